#!/usr/bin/env python3
"""Process start to answer for a Claude Code hook call: median and p99, two ways:

- `agentauthz-hook claude-code ...`, the client of the hook server (the
  server runs in the background; its first call is a warm-up, not measured);
- `agentauthz hook claude-code ...`, a process that loads the policies itself.

Usage: python3 benches/hook/start.py [--bin target/release/agentauthz] [--runs 200]

Measures, for the example policies and for a 10,000-policy folder (the example
model plus generated per-agent, per-repository grants, laid out like
benches/rust/src/workload.rs), the wall time from spawning the hook process to
reading its answer, with a realistic Claude Code PreToolUse payload on stdin.
The folder is compiled first (`agentauthz compile`), as an installation would.
"""
import argparse, json, os, resource, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "policies-examples", "coding-agent")


def generated_folder(base, n):
    d = os.path.join(base, f"policies-{n}")
    shutil.copytree(EXAMPLE, d)
    existing = sum(open(os.path.join(d, f)).read().count("@id(") for f in os.listdir(d) if f.endswith(".cedar"))
    lines = []
    for i in range(max(0, n - existing)):
        agent, repo = i % 1000, (i * 7 + i // 1000) % 500
        action = ["read_repo", "push_commit", "open_pr"][i % 3]
        lines.append(f'@id("grant-{i}") permit(principal == Agent::"a{agent}", action == Action::"{action}", '
                     f'resource in Repository::"r{repo}");')
    with open(os.path.join(d, "90-generated.cedar"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return d


def measure(binary, folder, store, payload, runs, via_server):
    hook = [os.path.join(os.path.dirname(binary), "agentauthz-hook")] if via_server else [binary, "hook"]
    cmd = hook + ["claude-code", "--dir", folder, "--store", store, "--agent", "ci-bot", "--repo", "acme/api"]
    env = dict(os.environ, AGENTAUTHZ_HOOK_IDLE_SECS="300")
    subprocess.run([binary, "compile", folder, "--store", store], check=True, capture_output=True)
    if via_server:
        # The first call starts the server; measure once it listens.
        subprocess.run(cmd, input=payload.replace("bench-session", "warm-up"), capture_output=True, text=True, env=env)
        for _ in range(500):
            if os.path.exists(store + ".sock"):
                break
            time.sleep(0.02)
    answers, times, cpu = set(), [], []
    for i in range(runs + 5):
        # A session per call: the example's session-action-budget would deny after 200.
        body = payload.replace("bench-session", f"bench-session-{i}")
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run(cmd, input=body, capture_output=True, text=True, env=env)
        times.append((time.perf_counter() - t0) * 1000)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000)
        answers.add(json.loads(out.stdout)["hookSpecificOutput"]["permissionDecision"])
    def stats(xs):
        xs = sorted(xs[5:])
        return statistics.median(xs), xs[min(len(xs) - 1, int(len(xs) * 0.99))]
    if via_server:
        os.remove(store + ".sock")  # the server ends
    return stats(times), stats(cpu), answers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "agentauthz"))
    ap.add_argument("--runs", type=int, default=200)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as base:
        repo = os.path.join(base, "api")
        os.makedirs(os.path.join(repo, "src"))
        os.makedirs(os.path.join(repo, ".git"))
        open(os.path.join(repo, ".git", "HEAD"), "w").write("ref: refs/heads/fix-timeout\n")
        open(os.path.join(repo, "src", "main.rs"), "w").write("fn main() {}\n")
        payloads = {
            "Read src/main.rs": {"tool_name": "Read", "tool_input": {"file_path": os.path.join(repo, "src/main.rs")}},
            "Bash compound": {"tool_name": "Bash", "tool_input": {"command": "cargo test && git status | head -5"}},
        }
        for label, folder in [("example (30 policies)", EXAMPLE), ("10,000 policies", generated_folder(base, 10_000))]:
            for name, p in payloads.items():
                for via_server in (True, False):
                    store = os.path.join(base, f"state-{abs(hash((label, name, via_server)))}.db")
                    payload = json.dumps({"session_id": "bench-session", "transcript_path": "/tmp/t.jsonl",
                                          "cwd": repo, "permission_mode": "default",
                                          "hook_event_name": "PreToolUse", "tool_use_id": "toolu_bench", **p})
                    (med, p99), (cmed, cp99), answers = measure(a.bin, folder, store, payload, a.runs, via_server)
                    how = "agentauthz-hook (server)" if via_server else "agentauthz hook        "
                    cpu = "client cpu" if via_server else "cpu       "
                    print(f"{label:22} {name:16} {how} wall median {med:6.2f} ms p99 {p99:6.2f} ms | "
                          f"{cpu} median {cmed:5.2f} ms p99 {cp99:5.2f} ms | {sorted(answers)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
