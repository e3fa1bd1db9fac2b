//! What one render may cost. Templates are operator input, yet a slip such as two nested
//! `range(100000)` loops or `[x] * 1000000000` must end in an error, not a run that hangs or is
//! killed for its memory (both found while fuzzing the renderer). minijinja already
//! caps string repetition and `range`; these bound the rest: instructions per render (fuel),
//! the size of rendered text, and the number of items a printed or returned value may expand
//! to. Not bounded: a filter that materialises a huge lazy repetition inside one expression
//! (`[x] * 10**9 | list`) — minijinja offers no hook there.

use std::io;

use minijinja::value::{Value, ValueKind};
use serde_json::{Map, Value as Json};

/// minijinja instructions one render may execute (setup's templates need a few thousand; a
/// keepalived.conf for hundreds of real servers well under a million).
pub(crate) const FUEL: u64 = 5_000_000;

/// Largest rendered text: config files, not disk images.
pub(crate) const MAX_OUTPUT: usize = 4 << 20;

/// Most items (list elements and mapping entries, at any depth) one value may expand to.
pub(crate) const MAX_ITEMS: usize = 1_000_000;

/// An output buffer that refuses to grow past [`MAX_OUTPUT`].
#[derive(Default)]
pub(crate) struct Bounded {
    pub(crate) buf: Vec<u8>,
    pub(crate) overflow: bool,
}

impl io::Write for Bounded {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.buf.len() + b.len() > MAX_OUTPUT {
            self.overflow = true;
            return Err(io::Error::other("template output too large"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A rendered value as JSON, expanding at most [`MAX_ITEMS`] items (a lazy `[x] * N` is
/// only as big as its description until something iterates it).
pub(crate) fn to_json(v: &Value) -> Result<Json, String> {
    to_json_within(v, MAX_ITEMS)
}

/// [`to_json`] with another item budget.
pub(crate) fn to_json_within(v: &Value, max: usize) -> Result<Json, String> {
    let mut budget = (max, max);
    convert(v, &mut budget)
}

/// Refuse to print a list or mapping of more than [`MAX_ITEMS`] items (at any depth). Printing
/// iterates every item of a lazy repetition even after the output is full, so the size is
/// checked first, walking at most that many items.
pub(crate) fn check_printable(v: &Value) -> Result<(), minijinja::Error> {
    fn walk(v: &Value, budget: &mut (usize, usize)) -> Result<(), String> {
        if matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::Iterable | ValueKind::Map
        ) {
            for item in v.try_iter().map_err(|e| e.to_string())? {
                spend(budget)?;
                walk(&item, budget)?;
            }
        }
        Ok(())
    }
    walk(v, &mut (MAX_ITEMS, MAX_ITEMS))
        .map_err(|m| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, m))
}

/// `(left, total)`: spend one item.
fn spend(budget: &mut (usize, usize)) -> Result<(), String> {
    budget.0 = budget
        .0
        .checked_sub(1)
        .ok_or_else(|| format!("value too large: more than {} items", budget.1))?;
    Ok(())
}

fn convert(v: &Value, budget: &mut (usize, usize)) -> Result<Json, String> {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => {
            let mut out = Vec::new();
            for item in v.try_iter().map_err(|e| e.to_string())? {
                spend(budget)?;
                out.push(convert(&item, budget)?);
            }
            Ok(Json::Array(out))
        }
        ValueKind::Map => {
            let mut out = Map::new();
            for k in v.try_iter().map_err(|e| e.to_string())? {
                spend(budget)?;
                let item = v.get_item(&k).map_err(|e| e.to_string())?;
                out.insert(k.to_string(), convert(&item, budget)?);
            }
            Ok(Json::Object(out))
        }
        _ => serde_json::to_value(v).map_err(|e| e.to_string()),
    }
}
