//! `agentauthz state ...`: manage the hooks' shared state store: revocations,
//! grants, approvals of pending asks, and the audit chain.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use agentauthz_hook::Store;
use clap::{Args, Subcommand};

use super::default_store;

/// The store to act on.
#[derive(Args, Clone, Debug)]
pub struct StoreArg {
    /// The state store (default ~/.agentauthz/state.db).
    #[arg(long, env = "AGENTAUTHZ_STORE")]
    pub store: Option<PathBuf>,
}

/// `agentauthz state` subcommands.
#[derive(Subcommand, Clone, Debug)]
pub enum StateCmd {
    /// Print sessions, revocations, grants, pending asks and the audit length as JSON.
    Show(StoreArg),
    /// Approve a pending ask by its id (named in the ask's reason).
    Approve {
        /// The approval id, `ap-...`.
        id: String,
        /// Who approves (recorded in the audit and shown to policies as context.approval.approver).
        #[arg(long)]
        approver: String,
        /// How long the approval lasts, in minutes.
        #[arg(long, default_value_t = 15)]
        minutes: u64,
        /// How many times the same tool call may run on it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Revoke an agent, a session or a credential (kill switch) for every hook process.
    Revoke {
        #[command(flatten)]
        subject: Subject,
        /// Why; shown in every decision it causes.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Lift a revocation.
    Restore {
        #[command(flatten)]
        subject: Subject,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Grant an agent actions on a resource (and what is in it) for a while.
    Grant {
        /// The principal, e.g. 'Agent::"ci-bot"'.
        #[arg(long)]
        principal: String,
        /// Action names (repeatable).
        #[arg(long = "action", required = true)]
        actions: Vec<String>,
        /// The resource, e.g. 'Repository::"acme/api"'.
        #[arg(long)]
        resource: String,
        /// How long, in minutes.
        #[arg(long)]
        minutes: u64,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Remove a grant by id.
    Ungrant {
        /// The grant id (see `state show`).
        id: i64,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Verify the audit hash chain; exit 1 on the first break.
    Verify(StoreArg),
}

/// What to revoke or restore.
#[derive(Args, Clone, Debug)]
#[group(required = true, multiple = false)]
pub struct Subject {
    /// An agent, as 'Agent::"ci-bot"'.
    #[arg(long)]
    agent: Option<String>,
    /// A session id.
    #[arg(long)]
    session: Option<String>,
    /// A credential id.
    #[arg(long)]
    credential: Option<String>,
}

impl Subject {
    fn kind_value(&self) -> (&'static str, String) {
        match (&self.agent, &self.session, &self.credential) {
            (Some(a), _, _) => ("agent", a.clone()),
            (_, Some(s), _) => ("session", s.clone()),
            (_, _, Some(c)) => ("credential", c.clone()),
            _ => ("agent", String::new()),
        }
    }
}

fn open(s: &StoreArg) -> Result<Store, String> {
    Store::open(&s.store.clone().unwrap_or_else(default_store))
}

/// Runs a state subcommand.
pub fn run(cmd: &StateCmd) -> Result<ExitCode, String> {
    match cmd {
        StateCmd::Show(s) => {
            let v = open(s)?.show()?;
            println!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        StateCmd::Approve { id, approver, minutes, uses, store } => {
            open(store)?.approve(id, approver, Duration::from_secs(minutes * 60), *uses)?;
            println!("approved {id} by {approver} for {minutes} min, {uses} use(s)");
            Ok(ExitCode::SUCCESS)
        }
        StateCmd::Revoke { subject, reason, store } => {
            let (kind, value) = subject.kind_value();
            open(store)?.revoke(kind, &value, reason)?;
            println!("revoked {kind} {value}");
            Ok(ExitCode::SUCCESS)
        }
        StateCmd::Restore { subject, store } => {
            let (kind, value) = subject.kind_value();
            let had = open(store)?.restore(kind, &value)?;
            println!("{} {kind} {value}", if had { "restored" } else { "was not revoked:" });
            Ok(if had { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        StateCmd::Grant { principal, actions, resource, minutes, reason, store } => {
            for s in [principal, resource] {
                agentauthz::cedar_policy::EntityUid::from_str(s).map_err(|e| format!("`{s}`: {e}"))?;
            }
            let id = open(store)?.grant(
                principal,
                actions,
                resource,
                SystemTime::now() + Duration::from_secs(minutes * 60),
                reason,
            )?;
            println!("grant {id}: {principal} may {} on {resource} for {minutes} min", actions.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        StateCmd::Ungrant { id, store } => {
            let had = open(store)?.revoke_grant(*id)?;
            Ok(if had { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        StateCmd::Verify(s) => match open(s)?.verify_audit() {
            Ok(n) => {
                println!("ok: {n} audit records, chain intact");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("BROKEN: {e}");
                Ok(ExitCode::FAILURE)
            }
        },
    }
}

use std::str::FromStr;
