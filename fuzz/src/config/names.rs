//! `Strategy::from_name` against the one table of names, `STRATEGY_NAMES`: exactly its
//! names and aliases parse (after the documented normalisation), to their row's strategy.

use std::format;
use std::string::String;
use std::vec::Vec;

use tinylb::strategy::{ParseReason, ParseStrategyError, STRATEGY_NAMES};
use tinylb::{Pool, Request, Select, Strategy};

use super::{Mangle, Name};

/// Every name and alias of `STRATEGY_NAMES`, with its row's canonical name.
fn documented() -> Vec<(&'static str, &'static str)> {
    STRATEGY_NAMES
        .iter()
        .flat_map(|row| {
            core::iter::once(row.name)
                .chain(row.aliases.iter().copied())
                .map(move |n| (n, row.name))
        })
        .collect()
}

/// The documented normalisation: surrounding whitespace trimmed, ASCII case ignored, `-`
/// and ` ` read as `_`.
fn normalise(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// What a refusal says: the refused name as given (its first 32 bytes, cut at a character
/// boundary), why, and every canonical name.
fn check_refusal(name: &str, e: &ParseStrategyError, reason: ParseReason) {
    assert_eq!(e.reason(), reason, "{name:?}");
    let keep = (0..=name.len().min(32))
        .rev()
        .find(|&k| name.is_char_boundary(k))
        .unwrap_or(0);
    assert_eq!(e.name(), &name[..keep], "the refused name of {name:?}");
    let text = format!("{e}");
    assert!(text.contains(e.name()), "{text:?} names {:?}", e.name());
    for row in STRATEGY_NAMES {
        assert!(text.contains(row.name), "{text:?} lists {}", row.name);
    }
}

/// `from_name` accepts exactly the documented names and aliases (as normalised), and
/// refuses Maglev's names, and only those, where there is no table.
pub(super) fn strategy_name(seed: u64, name: &Name) {
    let table = documented();
    let name: String = match name {
        Name::Known {
            which,
            mangle,
            bump,
            pad,
            suffix,
        } => {
            // a known name, mangled the ways the docs allow (and some they do not)
            let (alias, _) = table[*which as usize % table.len()];
            let mut s: String = alias
                .chars()
                .zip(mangle.iter().chain(core::iter::repeat(&Mangle::Keep)))
                .map(|(c, m)| match (c, m) {
                    ('_', Mangle::Dash) => '-',
                    ('_', Mangle::Space) => ' ',
                    (c, Mangle::Upper) => c.to_ascii_uppercase(),
                    (c, Mangle::Bump) if *bump => char::from_u32(c as u32 + 1).unwrap_or(c),
                    (c, _) => c,
                })
                .collect();
            if *pad {
                s = format!("  {s}\t");
            }
            if *suffix {
                s.push('x');
            }
            s
        }
        Name::Raw(s) => s.clone(),
    };
    let norm = normalise(&name);
    let want = table.iter().find(|(a, _)| *a == norm).map(|&(_, c)| c);
    let got = Strategy::<4, 251>::from_name(&name, seed);
    assert_eq!(got.as_ref().ok().map(|s| s.name()), want, "{name:?}");
    match got {
        Ok(s) => {
            let pool: Pool<4> = Pool::new();
            assert_eq!(s.select(&pool, &mut Request::new()), None);
            pool.add(1).unwrap();
            let one = s.select(&pool, &mut Request::new().with_key(seed));
            assert!(one.is_some(), "{name:?} on one backend");
        }
        Err(e) => check_refusal(&name, &e, ParseReason::Unknown),
    }
    // without a Maglev table, or with a table size that is not prime, `maglev` is refused
    let no_maglev = want.filter(|&c| c != "maglev");
    let want_reason = match want {
        Some("maglev") => Some(ParseReason::NoMaglevTable),
        Some(_) => None,
        None => Some(ParseReason::Unknown),
    };
    let no_table = Strategy::<4, 0>::from_name(&name, seed);
    assert_eq!(
        no_table.as_ref().ok().map(|s| s.name()),
        no_maglev,
        "{name:?} with M = 0"
    );
    match (no_table.err(), want_reason) {
        (Some(e), Some(r)) => check_refusal(&name, &e, r),
        (e, r) => assert_eq!(e.map(|e| e.reason()), r, "{name:?} with M = 0"),
    }
    let not_prime = Strategy::<4, 250>::from_name(&name, seed);
    assert_eq!(
        not_prime.as_ref().ok().map(|s| s.name()),
        no_maglev,
        "{name:?} with M = 250"
    );
    match (not_prime.err(), want_reason) {
        (Some(e), Some(r)) => check_refusal(&name, &e, r),
        (e, r) => assert_eq!(e.map(|e| e.reason()), r, "{name:?} with M = 250"),
    }
}
