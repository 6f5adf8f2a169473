//! Binding names to slots, and evaluation of the bound form.
//!
//! The bound tree is a flat array of 16-byte nodes addressed by `u32`
//! indexes (children before parents), so evaluation walks contiguous memory
//! and never allocates.

use std::fmt::{self, Write as _};

use regex_automata::meta::Regex;

use super::error::ExprError;
use super::lex::err;
use super::parse::{ArithOp, CmpOp, Expr, Kind, Lit, Node};
use super::value::{Slots, Value};

/// A string literal, with its number pre-parsed for comparisons against computed numbers.
#[derive(Debug, Clone)]
struct StrLit {
    text: Box<str>,
    num: Option<f64>,
}

impl StrLit {
    fn new(text: &str) -> Self {
        StrLit { text: text.into(), num: parse_num(text) }
    }
}

#[derive(Debug, Clone)]
enum BLit {
    Num(f64),
    Str(StrLit),
}

#[derive(Debug, Clone, Copy)]
enum BNode {
    // Conditions.
    And {
        first: u32,
        len: u32,
    },
    Or {
        first: u32,
        len: u32,
    },
    Not(u32),
    /// Field vs field, or string vs string: decided by the values at run time.
    Cmp {
        op: CmpOp,
        l: u32,
        r: u32,
    },
    /// One side is a number (literal or arithmetic), so the comparison is numeric.
    CmpNum {
        op: CmpOp,
        l: u32,
        r: u32,
    },
    /// `field op number`, the most common filter.
    CmpSlotNum {
        op: CmpOp,
        slot: u32,
        n: f64,
    },
    /// `field op 'string'` (either way round; `op` has the field on its left).
    CmpSlotStr {
        op: CmpOp,
        slot: u32,
        lit: u32,
    },
    In {
        value: u32,
        first: u32,
        len: u32,
        negated: bool,
    },
    Matches {
        value: u32,
        regex: u32,
        negated: bool,
    },
    // Values.
    Slot(u32),
    Num(f64),
    Str(u32),
    Neg(u32),
    Arith {
        op: ArithOp,
        l: u32,
        r: u32,
    },
}

const _: () = assert!(std::mem::size_of::<BNode>() == 16);

/// An expression bound to slots; cheap to evaluate, `Send + Sync`, and shareable between threads.
#[derive(Debug, Clone)]
pub struct BoundExpr {
    nodes: Box<[BNode]>,
    /// Children of `And`/`Or`.
    kids: Box<[u32]>,
    /// Elements of `in` lists.
    lits: Box<[BLit]>,
    strs: Box<[StrLit]>,
    regexes: Box<[Regex]>,
    root: u32,
}

impl Expr {
    /// Binds identifiers to slots chosen by the caller; `resolve` is called
    /// once per distinct name, in order of first use. An unknown name (`None`)
    /// is an error at its first use: "unknown field 'x'".
    pub fn bind(&self, mut resolve: impl FnMut(&str) -> Option<usize>) -> Result<BoundExpr, ExprError> {
        self.resolve_with(|name| resolve(name).ok_or_else(|| format!("unknown field '{name}'")))
    }

    /// Like [`Expr::bind`], with the caller's own message for an unknown name.
    pub fn resolve_with(&self, mut resolve: impl FnMut(&str) -> Result<usize, String>) -> Result<BoundExpr, ExprError> {
        let mut slots = Vec::with_capacity(self.idents.len());
        for (name, offset) in &self.idents {
            let slot = resolve(name).map_err(|message| err(*offset, message))?;
            let slot =
                u32::try_from(slot).map_err(|_| err(*offset, format!("slot {slot} of '{name}' is out of range")))?;
            slots.push(slot);
        }
        let mut b = Builder::default();
        let root = b.build(&self.root, &slots);
        Ok(BoundExpr {
            nodes: b.nodes.into(),
            kids: b.kids.into(),
            lits: b.lits.into(),
            strs: b.strs.into(),
            regexes: b.regexes.into(),
            root,
        })
    }
}

#[derive(Default)]
struct Builder {
    nodes: Vec<BNode>,
    kids: Vec<u32>,
    lits: Vec<BLit>,
    strs: Vec<StrLit>,
    regexes: Vec<Regex>,
}

fn index(len: usize) -> u32 {
    // The source text would have to be gigabytes long; parse limits keep it far below.
    u32::try_from(len).expect("expression too large")
}

impl Builder {
    fn push(&mut self, node: BNode) -> u32 {
        self.nodes.push(node);
        index(self.nodes.len() - 1)
    }

    fn num_at(&self, i: u32) -> Option<f64> {
        match self.nodes[i as usize] {
            BNode::Num(n) => Some(n),
            _ => None,
        }
    }

    /// Invariant: a subtree that folds to a constant occupies exactly one
    /// node, the last one, so folding can replace it in place.
    fn build(&mut self, node: &Node, slots: &[u32]) -> u32 {
        match &node.kind {
            Kind::Num(n) => self.push(BNode::Num(*n)),
            Kind::Str(s) => {
                self.strs.push(StrLit::new(s));
                let i = index(self.strs.len() - 1);
                self.push(BNode::Str(i))
            }
            Kind::Ident(i) => self.push(BNode::Slot(slots[*i])),
            Kind::Neg(x) => {
                let c = self.build(x, slots);
                match self.num_at(c) {
                    Some(n) => {
                        self.nodes[c as usize] = BNode::Num(-n);
                        c
                    }
                    None => self.push(BNode::Neg(c)),
                }
            }
            Kind::Arith(op, l, r) => {
                let l = self.build(l, slots);
                let r = self.build(r, slots);
                // Division by zero is left to run time, where it is null.
                if let (Some(a), Some(b)) = (self.num_at(l), self.num_at(r))
                    && let Some(v) = arith(*op, a, b)
                {
                    self.nodes.truncate(l as usize);
                    return self.push(BNode::Num(v));
                }
                self.push(BNode::Arith { op: *op, l, r })
            }
            Kind::Cmp(op, l, r) => {
                let l = self.build(l, slots);
                let r = self.build(r, slots);
                let computed = |n: BNode| matches!(n, BNode::Num(_) | BNode::Neg(_) | BNode::Arith { .. });
                let (ln, rn) = (self.nodes[l as usize], self.nodes[r as usize]);
                let special = match (ln, rn) {
                    (BNode::Slot(slot), BNode::Num(n)) => BNode::CmpSlotNum { op: *op, slot, n },
                    (BNode::Num(n), BNode::Slot(slot)) => BNode::CmpSlotNum { op: op.flip(), slot, n },
                    (BNode::Slot(slot), BNode::Str(lit)) => BNode::CmpSlotStr { op: *op, slot, lit },
                    (BNode::Str(lit), BNode::Slot(slot)) => BNode::CmpSlotStr { op: op.flip(), slot, lit },
                    _ if computed(ln) || computed(rn) => return self.push(BNode::CmpNum { op: *op, l, r }),
                    _ => return self.push(BNode::Cmp { op: *op, l, r }),
                };
                // Both operands are single leaves, the last two nodes: replace them.
                self.nodes.truncate(l as usize);
                self.push(special)
            }
            Kind::In { value, list, negated } => {
                let value = self.build(value, slots);
                let first = index(self.lits.len());
                self.lits.extend(list.iter().map(|lit| match lit {
                    Lit::Num(n) => BLit::Num(*n),
                    Lit::Str(s) => BLit::Str(StrLit::new(s)),
                }));
                self.push(BNode::In { value, first, len: index(list.len()), negated: *negated })
            }
            Kind::Matches { value, regex, negated, .. } => {
                let value = self.build(value, slots);
                self.regexes.push(regex.clone());
                let regex = index(self.regexes.len() - 1);
                self.push(BNode::Matches { value, regex, negated: *negated })
            }
            Kind::Not(x) => {
                let c = self.build(x, slots);
                self.push(BNode::Not(c))
            }
            Kind::And(kids) | Kind::Or(kids) => {
                let built: Vec<u32> = kids.iter().map(|k| self.build(k, slots)).collect();
                let first = index(self.kids.len());
                let len = index(built.len());
                self.kids.extend(built);
                if matches!(node.kind, Kind::And(_)) {
                    self.push(BNode::And { first, len })
                } else {
                    self.push(BNode::Or { first, len })
                }
            }
        }
    }
}

/// An operand during evaluation; where it came from decides how it compares.
#[derive(Clone, Copy)]
enum Operand<'a> {
    /// A number literal or an arithmetic result.
    Computed(f64),
    Field(Value<'a>),
    Str(&'a StrLit),
}

impl<'a> From<&'a BLit> for Operand<'a> {
    fn from(lit: &'a BLit) -> Self {
        match lit {
            BLit::Num(n) => Operand::Computed(*n),
            BLit::Str(s) => Operand::Str(s),
        }
    }
}

fn parse_num(text: &str) -> Option<f64> {
    text.trim().parse().ok()
}

fn arith(op: ArithOp, a: f64, b: f64) -> Option<f64> {
    match op {
        ArithOp::Add => Some(a + b),
        ArithOp::Sub => Some(a - b),
        ArithOp::Mul => Some(a * b),
        ArithOp::Div if b == 0.0 => None,
        ArithOp::Div => Some(a / b),
    }
}

fn cmp_num(op: CmpOp, a: f64, b: f64) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

fn cmp_text(op: CmpOp, a: &str, b: &str) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

/// A pure number written out with `{}` on the stack: the longest `f64`
/// (a subnormal written in full) takes under 330 bytes.
struct NumText {
    buf: [u8; 400],
    len: usize,
}

impl NumText {
    fn new(n: f64) -> Self {
        let mut t = NumText { buf: [0; 400], len: 0 };
        // Cannot fail: the buffer fits every f64.
        let _ = write!(t, "{n}");
        t
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for NumText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Null (`None`) when a text side must be read as a number and is not one.
fn compare(op: CmpOp, a: Operand<'_>, b: Operand<'_>) -> Option<bool> {
    use Operand::{Computed, Field, Str};
    use Value::{Number, NumberText, Text};
    let num = |x: f64, y: f64| Some(cmp_num(op, x, y));
    match (a, b) {
        (Computed(x) | Field(Number(x) | NumberText(x, _)), Computed(y) | Field(Number(y) | NumberText(y, _))) => {
            num(x, y)
        }
        // A number on one side makes a text on the other a number.
        (Computed(x) | Field(Number(x) | NumberText(x, _)), Field(Text(t))) => num(x, parse_num(t)?),
        (Field(Text(t)), Computed(y) | Field(Number(y) | NumberText(y, _))) => num(parse_num(t)?, y),
        (Computed(x), Str(s)) => num(x, s.num?),
        (Str(s), Computed(y)) => num(s.num?, y),
        // A string literal makes a field a text, as the input wrote it.
        (Field(NumberText(_, t)), Str(s)) => Some(cmp_text(op, t, &s.text)),
        (Str(s), Field(NumberText(_, t))) => Some(cmp_text(op, &s.text, t)),
        (Field(Number(x)), Str(s)) => Some(cmp_text(op, NumText::new(x).as_str(), &s.text)),
        (Str(s), Field(Number(x))) => Some(cmp_text(op, &s.text, NumText::new(x).as_str())),
        (Field(Text(t)), Str(s)) => Some(cmp_text(op, t, &s.text)),
        (Str(s), Field(Text(t))) => Some(cmp_text(op, &s.text, t)),
        (Str(s), Str(u)) => Some(cmp_text(op, &s.text, &u.text)),
        (Field(Text(t)), Field(Text(u))) => Some(cmp_text(op, t, u)),
    }
}

impl BoundExpr {
    /// True when the expression holds; null (a missing value somewhere that
    /// mattered) counts as false.
    pub fn eval<S: Slots + ?Sized>(&self, slots: &S) -> bool {
        self.cond(self.root, slots) == Some(true)
    }

    /// [`BoundExpr::eval`] with `values[i]` as slot `i` (out of range = missing).
    pub fn eval_values(&self, values: &[Option<Value<'_>>]) -> bool {
        self.eval(values)
    }

    // The hot arms stay small and the rare ones (number formatting, regexes,
    // lists) are out of line, so that this recursive function keeps a small frame.
    fn cond<S: Slots + ?Sized>(&self, i: u32, s: &S) -> Option<bool> {
        match self.nodes[i as usize] {
            BNode::CmpSlotNum { op, slot, n } => Some(cmp_num(op, field_num(s.get(slot as usize)?)?, n)),
            BNode::CmpNum { op, l, r } => {
                let a = self.number(l, s)?;
                let b = self.number(r, s)?;
                Some(cmp_num(op, a, b))
            }
            BNode::CmpSlotStr { op, slot, lit } => {
                let lit = &self.strs[lit as usize].text;
                Some(match s.get(slot as usize)? {
                    Value::Text(t) | Value::NumberText(_, t) => cmp_text(op, t, lit),
                    Value::Number(x) => cmp_written(op, x, lit),
                })
            }
            BNode::Cmp { op, l, r } => {
                let a = self.value(l, s)?;
                let b = self.value(r, s)?;
                compare(op, a, b)
            }
            BNode::And { first, len } => {
                let mut out = Some(true);
                for &k in &self.kids[first as usize..(first + len) as usize] {
                    match self.cond(k, s) {
                        Some(false) => return Some(false),
                        None => out = None,
                        Some(true) => {}
                    }
                }
                out
            }
            BNode::Or { first, len } => {
                let mut out = Some(false);
                for &k in &self.kids[first as usize..(first + len) as usize] {
                    match self.cond(k, s) {
                        Some(true) => return Some(true),
                        None => out = None,
                        Some(false) => {}
                    }
                }
                out
            }
            BNode::Not(c) => self.cond(c, s).map(|b| !b),
            BNode::In { value, first, len, negated } => {
                let lits = &self.lits[first as usize..(first + len) as usize];
                in_list(self.value(value, s)?, lits).map(|b| b != negated)
            }
            BNode::Matches { value, regex, negated } => {
                let re = &self.regexes[regex as usize];
                let hit = match self.value(value, s)? {
                    Operand::Field(Value::Text(t) | Value::NumberText(_, t)) => re.is_match(t),
                    Operand::Str(lit) => re.is_match(&*lit.text),
                    Operand::Computed(x) | Operand::Field(Value::Number(x)) => matches_written(re, x),
                };
                Some(hit != negated)
            }
            // Values never stand where a condition is expected (the parser checks).
            BNode::Slot(_) | BNode::Num(_) | BNode::Str(_) | BNode::Neg(_) | BNode::Arith { .. } => None,
        }
    }

    fn value<'v, S: Slots + ?Sized>(&'v self, i: u32, s: &'v S) -> Option<Operand<'v>> {
        match self.nodes[i as usize] {
            BNode::Slot(k) => s.get(k as usize).map(Operand::Field),
            BNode::Str(k) => Some(Operand::Str(&self.strs[k as usize])),
            _ => self.number(i, s).map(Operand::Computed),
        }
    }

    fn number<S: Slots + ?Sized>(&self, i: u32, s: &S) -> Option<f64> {
        match self.nodes[i as usize] {
            BNode::Num(n) => Some(n),
            BNode::Slot(k) => field_num(s.get(k as usize)?),
            BNode::Neg(c) => Some(-self.number(c, s)?),
            BNode::Arith { op, l, r } => {
                let a = self.number(l, s)?;
                let b = self.number(r, s)?;
                arith(op, a, b)
            }
            BNode::Str(k) => self.strs[k as usize].num,
            _ => None,
        }
    }
}

fn field_num(v: Value<'_>) -> Option<f64> {
    match v {
        Value::Number(x) | Value::NumberText(x, _) => Some(x),
        Value::Text(t) => parse_num(t),
    }
}

/// A pure number against a string literal: compared as written with `{}`.
#[cold]
#[inline(never)]
fn cmp_written(op: CmpOp, x: f64, lit: &str) -> bool {
    cmp_text(op, NumText::new(x).as_str(), lit)
}

#[cold]
#[inline(never)]
fn matches_written(re: &Regex, x: f64) -> bool {
    re.is_match(NumText::new(x).as_str())
}

/// `==` against each element, three-valued: true if any is true, else null if any is null.
#[inline(never)]
fn in_list(a: Operand<'_>, lits: &[BLit]) -> Option<bool> {
    // Write a pure number out once, not once per string element.
    let text;
    let a = match a {
        Operand::Field(Value::Number(x)) if lits.iter().any(|l| matches!(l, BLit::Str(_))) => {
            text = NumText::new(x);
            Operand::Field(Value::NumberText(x, text.as_str()))
        }
        a => a,
    };
    let mut out = Some(false);
    for lit in lits {
        match compare(CmpOp::Eq, a, lit.into()) {
            Some(true) => return Some(true),
            None => out = None,
            Some(false) => {}
        }
    }
    out
}
