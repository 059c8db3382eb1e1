#![doc(hidden)]
//! The built-in lalrpop lexer
//!
//! This is the code for the built in lexer, and is linked by lalrpop generated parsers to provide
//! lexer support when you don't write a custom lexer.
//!
//! Typically you don't want to use APIs from this module directly, they are public to be accessed
//! by the generated parser.
use alloc::{fmt, vec::Vec};
use core::marker::PhantomData;

use crate::ParseError;

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::hybrid::{BuildError, LazyStateID};
use regex_automata::nfa::thompson::Config as NfaConfig;
use regex_automata::util::syntax::Config as SyntaxConfig;
use regex_automata::{Anchored, Input, MatchKind};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Token<'input>(pub usize, pub &'input str);
impl fmt::Display for Token<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> Result<(), fmt::Error> {
        fmt::Display::fmt(self.1, formatter)
    }
}

pub struct MatcherBuilder {
    dfa: DFA,
    skip_vec: Vec<bool>,
    /// Lazy-DFA caches of finished matchers, for the next ones (agentauthz
    /// patch: upstream creates a fresh cache per `matcher()`, so every parse
    /// re-determinizes from scratch every DFA state it visits).
    #[cfg(feature = "std")]
    caches: std::sync::Mutex<Vec<Cache>>,
}

/// Caches kept per builder: one per thread that parses at the same time is
/// plenty; more are dropped.
#[cfg(feature = "std")]
const KEPT_CACHES: usize = 4;

/// The DFAs built so far in this process, by their token regexes (agentauthz
/// patch). A DFA depends on nothing but its regexes and the fixed
/// configuration above, so the same regexes give an interchangeable DFA; a
/// clone shares the compiled automaton (regex-automata keeps it behind an `Arc`).
#[cfg(feature = "std")]
mod built {
    use alloc::string::String;
    use alloc::vec::Vec;
    use regex_automata::hybrid::dfa::DFA;

    /// Distinct token sets kept (a process links a few grammars at most).
    const KEPT: usize = 8;

    static BUILT: std::sync::Mutex<Vec<(Vec<String>, DFA)>> = std::sync::Mutex::new(Vec::new());

    pub(super) fn find(key: &[String]) -> Option<DFA> {
        let built = BUILT.lock().ok()?;
        built.iter().find(|(k, _)| k.as_slice() == key).map(|(_, dfa)| dfa.clone())
    }

    pub(super) fn keep(key: Vec<String>, dfa: &DFA) {
        if let Ok(mut built) = BUILT.lock() {
            if built.len() < KEPT && !built.iter().any(|(k, _)| *k == key) {
                built.push((key, dfa.clone()));
            }
        }
    }
}

impl MatcherBuilder {
    #[allow(clippy::result_large_err)]
    pub fn new<S>(exprs: impl IntoIterator<Item = (S, bool)>) -> Result<MatcherBuilder, BuildError>
    where
        S: AsRef<str>,
    {
        let exprs = exprs.into_iter();
        let mut regex_vec = Vec::with_capacity(exprs.size_hint().0);
        let mut skip_vec = Vec::with_capacity(exprs.size_hint().0);
        for (regex, skip) in exprs {
            regex_vec.push(regex);
            skip_vec.push(skip);
        }

        // agentauthz patch: a grammar's parsers (Cedar has one per entry
        // point: policies, names, identifiers, ...) share one token set, so
        // the DFA built for the first is reused for the others.
        #[cfg(feature = "std")]
        let key: Vec<alloc::string::String> = regex_vec.iter().map(|r| r.as_ref().into()).collect();
        #[cfg(feature = "std")]
        if let Some(dfa) = built::find(&key) {
            return Ok(MatcherBuilder { dfa, skip_vec, caches: std::sync::Mutex::new(Vec::new()) });
        }

        let enable_unicode = cfg!(feature = "unicode");
        let dfa = DFA::builder()
            .configure(DFA::config().match_kind(MatchKind::All))
            .syntax(
                SyntaxConfig::new()
                    .unicode(enable_unicode)
                    .utf8(enable_unicode),
            )
            .thompson(NfaConfig::new().utf8(enable_unicode).shrink(true))
            .build_many(&regex_vec)?;
        #[cfg(feature = "std")]
        built::keep(key, &dfa);

        Ok(MatcherBuilder {
            dfa,
            skip_vec,
            #[cfg(feature = "std")]
            caches: std::sync::Mutex::new(Vec::new()),
        })
    }

    pub fn matcher<'input, 'builder, E>(
        &'builder self,
        text: &'input str,
    ) -> Matcher<'input, 'builder, E> {
        let input = Input::new(text).anchored(Anchored::Yes);
        let mut cache = self.take_cache();
        let start = self.dfa.start_state_forward(&mut cache, &input).unwrap();
        Matcher {
            text,
            consumed: 0,
            cache: Some(cache),
            start,
            dfa: &self.dfa,
            skip_vec: &self.skip_vec,
            #[cfg(feature = "std")]
            pool: &self.caches,
            _marker: PhantomData,
        }
    }

    #[cfg(feature = "std")]
    fn take_cache(&self) -> Cache {
        let kept = match self.caches.lock() {
            Ok(mut caches) => caches.pop(),
            Err(_) => None,
        };
        kept.unwrap_or_else(|| self.dfa.create_cache())
    }

    #[cfg(not(feature = "std"))]
    fn take_cache(&self) -> Cache {
        self.dfa.create_cache()
    }
}

pub struct Matcher<'input, 'builder, E> {
    text: &'input str,
    consumed: usize,
    /// Always `Some` until dropped (then handed back to the builder's pool).
    cache: Option<Cache>,
    start: LazyStateID,
    dfa: &'builder DFA,
    skip_vec: &'builder [bool],
    #[cfg(feature = "std")]
    pool: &'builder std::sync::Mutex<Vec<Cache>>,
    _marker: PhantomData<fn() -> E>,
}

#[cfg(feature = "std")]
impl<E> Drop for Matcher<'_, '_, E> {
    fn drop(&mut self) {
        if let (Some(cache), Ok(mut pool)) = (self.cache.take(), self.pool.lock()) {
            if pool.len() < KEPT_CACHES {
                pool.push(cache);
            }
        }
    }
}

impl<'input, E> Iterator for Matcher<'input, '_, E> {
    type Item = Result<(usize, Token<'input>, usize), ParseError<usize, Token<'input>, E>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let text = self.text;
            let start_offset = self.consumed;
            if text.is_empty() {
                self.consumed = start_offset;
                return None;
            }

            let Some(cache) = self.cache.as_mut() else {
                return None;
            };
            let mut match_ = None;
            'search: {
                let mut state = self.start;
                for (i, byte) in text.bytes().enumerate() {
                    state = self.dfa.next_state(cache, state, byte).unwrap();
                    if state.is_match() {
                        match_ = Some((state, i));
                    } else if state.is_dead() {
                        break 'search;
                    }
                }
                state = self.dfa.next_eoi_state(cache, state).unwrap();
                if state.is_match() {
                    match_ = Some((state, text.len()));
                }
            }

            let (match_state, longest_match) = match match_ {
                Some(match_) => match_,
                None => {
                    return Some(Err(ParseError::InvalidToken {
                        location: start_offset,
                    }))
                }
            };
            let cache = &*cache;
            let index = (0..self.dfa.match_len(cache, match_state))
                .map(|n| {
                    self.dfa
                        .match_pattern(cache, match_state, n)
                        .as_usize()
                })
                .max()
                .unwrap();

            let result = &text[..longest_match];
            let remaining = &text[longest_match..];
            let end_offset = start_offset + longest_match;
            self.text = remaining;
            self.consumed = end_offset;

            if self.skip_vec[index] {
                if longest_match == 0 {
                    return Some(Err(ParseError::InvalidToken {
                        location: start_offset,
                    }));
                }
                continue;
            }

            return Some(Ok((start_offset, Token(index, result), end_offset)));
        }
    }
}
