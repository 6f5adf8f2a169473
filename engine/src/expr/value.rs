//! What an expression reads: a [`Value`] per slot, through [`Slots`].
//!
//! Invariant: a slot that has no value is `None` (null), never a placeholder value,
//! so the null rules of the language ([`crate::expr`], "Null") apply to it.

/// A value seen by an expression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Number(f64),
    /// Text that may still compare as a number when the other side is a number and it parses.
    Text(&'a str),
    /// A number that also knows how the input wrote it (so `status == '200'` and `status matches '^2'` work on the text).
    NumberText(f64, &'a str),
}

/// Where a bound expression gets the values of its slots. `None` = missing/null.
pub trait Slots {
    fn get(&self, slot: usize) -> Option<Value<'_>>;
}

impl Slots for [Option<Value<'_>>] {
    fn get(&self, slot: usize) -> Option<Value<'_>> {
        <[_]>::get(self, slot).copied().flatten()
    }
}

impl<const N: usize> Slots for [Option<Value<'_>>; N] {
    fn get(&self, slot: usize) -> Option<Value<'_>> {
        <[_]>::get(self, slot).copied().flatten()
    }
}

impl Slots for Vec<Option<Value<'_>>> {
    fn get(&self, slot: usize) -> Option<Value<'_>> {
        <[_]>::get(self, slot).copied().flatten()
    }
}

impl<S: Slots + ?Sized> Slots for &S {
    fn get(&self, slot: usize) -> Option<Value<'_>> {
        (**self).get(slot)
    }
}
