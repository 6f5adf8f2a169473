//! Raw lines: the whole line is the text rules scan; event time and host come from
//! optional regexes configured on the stream.
//!
//! Invariants:
//! - every regex and time format is compiled and validated once, at configuration
//!   time; a bad setting is a [`ConfigError`] naming the setting, never a per-line failure;
//! - a configured time that does not parse is an error of reason `time`, never a
//!   guessed or defaulted timestamp;
//! - per-line work does not allocate on success (regex caches come from the regex's
//!   own pool, capture slots live on the stack).

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::format::{self, Fixed, Item, Numeric, Parsed, StrftimeItems};
use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Utc};
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::meta::Regex;
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::{NonMaxUsize, PatternID};
use regex_automata::{Anchored, Input, MatchKind, util::syntax};
use regex_syntax::hir::literal::ExtractKind;

use crate::error::{ConfigError, ConfigField, DecodeError, ErrorReason, short};
use crate::event::Event;

/// NFA size limit for user regexes: large enough for any sane pattern, small enough
/// that a pathological one is refused at config time instead of eating memory.
const REGEX_NFA_SIZE_LIMIT: usize = 10 << 20;
/// Parenthesis nesting limit for user regexes; the parser recurses, so this bounds stack use.
const REGEX_NEST_LIMIT: u32 = 100;
/// The most capture slots kept on the stack when extracting a group; more groups spill to the heap.
const STACK_SLOTS: usize = 32;

/// Compiles a user regex with the project's size and nesting limits.
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    Regex::builder()
        .configure(Regex::config().nfa_size_limit(Some(REGEX_NFA_SIZE_LIMIT)))
        .syntax(syntax::Config::new().nest_limit(REGEX_NEST_LIMIT))
        .build(pattern)
        .map_err(|e| e.to_string())
}

/// A compiled time or host regex, with what it knows about where its matches start.
#[derive(Debug, Clone)]
pub(crate) struct LineRegex {
    regex: Regex,
    /// Every match starts with one of these (at most 3) bytes, when that is known.
    /// The search then tries an anchored match at each occurrence of one, in order:
    /// the first that matches is the leftmost match. That runs one one-pass DFA over
    /// the match, where an unanchored capture search runs a forward and a reverse DFA
    /// over the line before it (replaying 1M nginx-like lines with the time regex
    /// `\[([^\]]+)\]`: about 200 ns a line less).
    leading: Option<Vec<u8>>,
    /// When the pattern is a capture group between fixed literals (`\[([^\]]+)\]`), the
    /// group's bounds follow from the match's, and the match is found without capture
    /// bookkeeping: by an anchored dense DFA (2.5 times faster than the one-pass DFA on
    /// the time regex above), or by one memchr for a run of all bytes but one.
    framed: Option<Box<FramedGroup>>,
}

/// A capture group whose text is the whole match less `before` and `after` bytes of literals.
#[derive(Debug, Clone)]
struct FramedGroup {
    /// Its explicit group index.
    group: usize,
    before: usize,
    after: usize,
    /// How the match's end is found.
    end: FrameEnd,
}

/// Finds where an anchored match of a [`FramedGroup`] pattern ends.
#[derive(Debug, Clone)]
enum FrameEnd {
    /// The whole pattern, anchored, leftmost-first.
    Dfa(Box<dense::DFA<Vec<u32>>>),
    /// The group is a greedy run of anything but one ASCII byte, and the literal after it
    /// starts with that byte (`\[([^\]]+)\]`, `"([^"]*)"`): the run can only end at the
    /// byte's first occurrence, so one memchr finds the end. The dense DFA cannot skip
    /// ahead this way: in Unicode mode the run's state leaves on every non-ASCII lead
    /// byte, so it is not accelerated, and it steps through the text a byte at a time
    /// (replaying 1M nginx-like lines with the time regex above: about 50 ns a line more).
    DelimitedRun(DelimitedRun),
}

/// `before`, then at least `min_len` bytes other than `stop`, then `after` (which starts with `stop`).
#[derive(Debug, Clone)]
struct DelimitedRun {
    before: Box<[u8]>,
    stop: u8,
    min_len: usize,
    after: Box<[u8]>,
}

impl DelimitedRun {
    /// The end of the match that starts at `hay[0]`, if one does.
    #[inline]
    fn match_end(&self, hay: &[u8]) -> Option<usize> {
        let run_start = self.before.len();
        if !starts_with_short(hay, &self.before) {
            return None;
        }
        let run_len = memchr::memchr(self.stop, &hay[run_start..])?;
        let after_start = run_start + run_len;
        (run_len >= self.min_len && starts_with_short(&hay[after_start..], &self.after))
            .then_some(after_start + self.after.len())
    }
}

/// `hay.starts_with(literal)` for a short literal, compared in line, eight bytes at a
/// time from the literal's last eight (overlapping the others; in a time text they hold
/// the seconds, which change most): `starts_with` calls libc's `memcmp`, which costs more
/// than the compare itself. Also the engine's compare of literal tails.
#[inline]
pub fn starts_with_short(hay: &[u8], literal: &[u8]) -> bool {
    let n = literal.len();
    if hay.len() < n {
        return false;
    }
    if n < 8 {
        return hay.iter().zip(literal).all(|(a, b)| a == b);
    }
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().expect("eight bytes"));
    word(hay, n - 8) == word(literal, n - 8) && (0..n - 8).step_by(8).all(|at| word(hay, at) == word(literal, at))
}

/// Largest dense DFA a framed group compiles to; past it the one-pass path stays.
const FRAMED_DFA_LIMIT: usize = 64 << 10;

/// After this many anchored tries that fail, one unanchored search takes the rest of the
/// line (so a line full of leading bytes costs one search, not one per byte).
const ANCHORED_TRIES: usize = 4;

impl LineRegex {
    pub(crate) fn new(pattern: &str) -> Result<LineRegex, String> {
        let regex = compile_regex(pattern)?;
        let hir = regex_syntax::ParserBuilder::new().nest_limit(REGEX_NEST_LIMIT).build().parse(pattern).ok();
        let leading = hir.as_ref().and_then(leading_bytes);
        let framed = hir.as_ref().and_then(|hir| framed_group(hir, pattern)).map(Box::new);
        Ok(LineRegex { regex, leading, framed })
    }

    /// The text of capture group `group` (1-based explicit group index) of the leftmost
    /// match. `None` when the regex does not match or the group did not take part in it.
    pub(crate) fn capture<'a>(&self, line: &'a str, group: usize) -> Option<&'a str> {
        let unanchored = |from: usize| self.group_span(&Input::new(line).range(from..), group);
        let span = match (&self.leading, &self.framed) {
            (Some(leading), Some(framed)) if framed.group == group => try_leading(leading, line, unanchored, |at| {
                let end = match &framed.end {
                    FrameEnd::DelimitedRun(run) => run.match_end(&line.as_bytes()[at..]).map(|end| at + end),
                    FrameEnd::Dfa(dfa) => {
                        let input = Input::new(line).range(at..).anchored(Anchored::Yes);
                        // No quit bytes are configured, so `Err` does not happen; the regex would answer.
                        dfa.try_search_fwd(&input).map_err(drop)?.map(|end| end.offset())
                    }
                };
                Ok(end.map(|end| Some((at + framed.before, end - framed.after))))
            }),
            (Some(leading), _) => try_leading(leading, line, unanchored, |at| {
                Ok(self.group_span(&Input::new(line).range(at..).anchored(Anchored::Yes), group))
            }),
            (None, _) => unanchored(0),
        };
        let (start, end) = span??;
        line.get(start..end)
    }

    /// Searches `input`: `None` without a match, else the span of `group` in it (`None`
    /// when the group did not take part).
    fn group_span(&self, input: &Input<'_>, group: usize) -> Option<Option<(usize, usize)>> {
        let needed = (group + 1) * 2;
        let mut stack = [None::<NonMaxUsize>; STACK_SLOTS];
        let mut heap;
        let slots: &mut [Option<NonMaxUsize>] = if needed <= STACK_SLOTS {
            &mut stack[..needed]
        } else {
            heap = vec![None; needed];
            &mut heap
        };
        self.regex.search_slots(input, slots)?;
        Some(slots[group * 2].zip(slots[group * 2 + 1]).map(|(start, end)| (start.get(), end.get())))
    }

    pub(crate) fn group_info(&self) -> &regex_automata::util::captures::GroupInfo {
        self.regex.group_info()
    }
}

/// The leftmost match of a regex whose every match starts with one of `leading`:
/// `anchored_at(at)` at each occurrence of one, in order, until one matches (`Ok(Some)`);
/// after [`ANCHORED_TRIES`] misses, or when it cannot tell (`Err`), `unanchored_from`
/// searches the rest of the line.
fn try_leading<T>(
    leading: &[u8],
    line: &str,
    unanchored_from: impl FnOnce(usize) -> Option<T>,
    mut anchored_at: impl FnMut(usize) -> Result<Option<T>, ()>,
) -> Option<T> {
    let hay = line.as_bytes();
    let mut from = 0;
    for _ in 0..ANCHORED_TRIES {
        let at = from + find_leading(leading, &hay[from..])?;
        match anchored_at(at) {
            Ok(Some(found)) => return Some(found),
            Ok(None) => from = at + 1,
            Err(()) => break,
        }
    }
    unanchored_from(from)
}

/// The first of one to three bytes in `hay`.
#[inline]
fn find_leading(leading: &[u8], hay: &[u8]) -> Option<usize> {
    match *leading {
        [a] => memchr::memchr(a, hay),
        [a, b] => memchr::memchr2(a, b, hay),
        [a, b, c] => memchr::memchr3(a, b, c, hay),
        _ => unreachable!("one to three leading bytes"),
    }
}

/// A pattern that is literal text around one capture group (`\[([^\]]+)\]`,
/// `" (?P<status>[45]\d\d) `): the group's text is the match less the literals, so
/// the match's bounds give the group's.
#[derive(Debug, Clone)]
pub struct LiteralFrame<'h> {
    /// The group.
    pub group: &'h regex_syntax::hir::Capture,
    /// The literal text before it.
    pub before: Vec<u8>,
    /// The literal text after it.
    pub after: Vec<u8>,
}

impl LiteralFrame<'_> {
    /// `hir` as literals around one group, when it is that.
    pub fn of(hir: &regex_syntax::hir::Hir) -> Option<LiteralFrame<'_>> {
        use regex_syntax::hir::HirKind;
        let parts: &[regex_syntax::hir::Hir] = match hir.kind() {
            HirKind::Concat(parts) => parts,
            _ => std::slice::from_ref(hir),
        };
        let mut group = None;
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for part in parts {
            match part.kind() {
                HirKind::Capture(capture) if group.is_none() => group = Some(capture),
                HirKind::Literal(literal) if group.is_none() => before.extend_from_slice(&literal.0),
                HirKind::Literal(literal) => after.extend_from_slice(&literal.0),
                _ => return None,
            }
        }
        Some(LiteralFrame { group: group?, before, after })
    }
}

/// The pattern's one capture group, when everything around it is literal text.
fn framed_group(hir: &regex_syntax::hir::Hir, pattern: &str) -> Option<FramedGroup> {
    let LiteralFrame { group, before, after } = LiteralFrame::of(hir)?;
    let (before_len, after_len) = (before.len(), after.len());
    let framed = |end| FramedGroup { group: group.index as usize, before: before_len, after: after_len, end };
    if let Some((stop, min_len)) = run_of_all_but_one_byte(&group.sub)
        && after.first() == Some(&stop)
    {
        let run = DelimitedRun { before: before.into(), stop, min_len, after: after.into() };
        return Some(framed(FrameEnd::DelimitedRun(run)));
    }
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Anchored)
                .match_kind(MatchKind::LeftmostFirst)
                .minimize(false)
                .dfa_size_limit(Some(FRAMED_DFA_LIMIT))
                .determinize_size_limit(Some(4 * FRAMED_DFA_LIMIT)),
        )
        .syntax(syntax::Config::new().nest_limit(REGEX_NEST_LIMIT))
        .thompson(thompson::Config::new().nfa_size_limit(Some(REGEX_NFA_SIZE_LIMIT)))
        .build(pattern)
        .ok()?;
    Some(framed(FrameEnd::Dfa(Box::new(dfa))))
}

/// `[^c]+` or `[^c]*` (greedy, no upper bound, `c` ASCII): `c` and the run's least length.
fn run_of_all_but_one_byte(hir: &regex_syntax::hir::Hir) -> Option<(u8, usize)> {
    use regex_syntax::hir::{Class, HirKind};
    let HirKind::Repetition(repetition) = hir.kind() else { return None };
    if !repetition.greedy || repetition.max.is_some() {
        return None;
    }
    let HirKind::Class(class) = repetition.sub.kind() else { return None };
    // The class must be every character (or byte) but one ASCII byte: two ranges around it.
    let (ranges, top): (Vec<(u32, u32)>, u32) = match class {
        Class::Unicode(class) => {
            (class.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect(), char::MAX as u32)
        }
        Class::Bytes(class) => {
            (class.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()))).collect(), 0xFF)
        }
    };
    let stop = match ranges[..] {
        [(0, below), (above, end)] if above == below + 2 && end == top => below + 1,
        [(1, end)] if end == top => 0,
        _ => return None,
    };
    let stop = u8::try_from(stop).ok().filter(u8::is_ascii)?;
    // A least length counts characters, a run's length bytes: they agree on 0 and 1 only.
    (repetition.min <= 1).then_some((stop, repetition.min as usize))
}

/// The bytes that every match of `hir` starts with, when there are one to three of them.
fn leading_bytes(hir: &regex_syntax::hir::Hir) -> Option<Vec<u8>> {
    let prefixes = regex_syntax::hir::literal::Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    let literals = prefixes.literals()?;
    let mut bytes: Vec<u8> = Vec::new();
    for literal in literals {
        let &first = literal.as_bytes().first()?;
        if !bytes.contains(&first) {
            bytes.push(first);
        }
    }
    (1..=3).contains(&bytes.len()).then_some(bytes)
}

/// How a [`TimeParser`] reads its text.
#[derive(Debug, Clone)]
enum TimeFormat {
    /// RFC 3339 / ISO 8601 with an offset, as chrono reads it.
    Rfc3339,
    /// Unix seconds, possibly fractional.
    UnixSeconds,
    /// Unix milliseconds, possibly fractional (the fraction is dropped).
    UnixMillis,
    /// A chrono strftime format, pre-parsed once.
    Strftime {
        /// The parsed items, so that no line re-parses the format string.
        items: Vec<Item<'static>>,
        /// The configured `year`, for texts without one (syslog). `None`: such a text takes
        /// its year from the time the record arrived (see [`TimeParser::parse`]).
        year: Option<i32>,
        /// Offset used when the text carries none.
        offset: FixedOffset,
        /// The format is the common log format's `%d/%b/%Y:%H:%M:%S %z` (nginx's
        /// `$time_local`, Apache's `%t`): texts of its one fixed shape are parsed by
        /// hand, 5 times faster than chrono's general parser; any other text goes to chrono.
        common_log: bool,
    },
}

/// The time format of nginx's and Apache's access logs.
const COMMON_LOG_FORMAT: &str = "%d/%b/%Y:%H:%M:%S %z";

/// Compiled event-time parser: chrono strftime format, optional year (for syslog formats
/// without `%Y`; else inferred per record, see [`TimeParser::parse`]), optional fixed
/// offset (used when the format has no `%z`; default UTC).
#[derive(Debug, Clone)]
pub struct TimeParser {
    /// What the text looks like; decided once at construction.
    format: TimeFormat,
    /// Texts have no year and none is configured: the year comes from each record's
    /// arrival, so a cached answer holds only while that gives the same year.
    infers_year: bool,
    /// Tells this parser's entry in [`LAST_PARSE`] from another parser's: unique per
    /// construction (a clone keeps it, and answers alike).
    id: u64,
}

/// The next [`TimeParser::id`]; 0 is never handed out, so the empty cache matches no parser.
static NEXT_PARSER_ID: AtomicU64 = AtomicU64::new(1);

/// Longest time text the per-thread cache keeps.
const CACHED_TEXT_BYTES: usize = 40;

/// The last time text this thread parsed successfully, and its answer. Lines come in time
/// order, many to a second, so most texts equal the one before (nginx caches its own time
/// text for the same reason): a compare instead of a parse, which saves about 250
/// instructions a line for the common log format and more for chrono's general path.
#[derive(Clone, Copy)]
struct LastParse {
    /// [`TimeParser::id`] of the parser that answered.
    parser: u64,
    len: usize,
    text: [u8; CACHED_TEXT_BYTES],
    ms: i64,
}

thread_local! {
    static LAST_PARSE: Cell<LastParse> =
        const { Cell::new(LastParse { parser: 0, len: 0, text: [0; CACHED_TEXT_BYTES], ms: 0 }) };
}

impl TimeParser {
    /// `format` is a chrono strftime format, or one of the special names `rfc3339`,
    /// `unix` (seconds, may be fractional), `unix_ms`. `year` is the year for formats
    /// without one (default: inferred from each record's arrival). `tz` is a fixed
    /// offset (`+00:00`, `-07:00`, `+0800`, `Z`, `UTC`) for texts without an offset.
    /// Errors name the setting: `format`, `tz` or `year`.
    pub fn new(format: &str, year: Option<i32>, tz: Option<&str>) -> Result<TimeParser, ConfigError> {
        let offset = match tz {
            None => FixedOffset::east_opt(0).ok_or_else(|| ConfigError::new(ConfigField::Tz, "invalid offset"))?,
            Some(tz) => parse_offset(tz)?,
        };
        if let Some(y) = year
            && !(1..=9999).contains(&y)
        {
            return Err(ConfigError::new(ConfigField::Year, format!("{y} is not a year between 1 and 9999")));
        }
        let format = match format.trim() {
            "rfc3339" | "RFC3339" => TimeFormat::Rfc3339,
            "unix" => TimeFormat::UnixSeconds,
            "unix_ms" => TimeFormat::UnixMillis,
            "" => return Err(ConfigError::new(ConfigField::Format, "empty time format")),
            _ => {
                let items = StrftimeItems::new(format).parse_to_owned().map_err(|e| {
                    ConfigError::new(ConfigField::Format, format!("invalid chrono format {format:?}: {e}"))
                })?;
                if !has_date(&items) {
                    return Err(ConfigError::new(
                        ConfigField::Format,
                        format!(
                            "format {format:?} has no day of the month (%d, %e), day of the year (%j), week or timestamp (%s)"
                        ),
                    ));
                }
                TimeFormat::Strftime { items, year, offset, common_log: format == COMMON_LOG_FORMAT }
            }
        };
        let infers_year = matches!(&format, TimeFormat::Strftime { items, year: None, .. } if !has_year(items));
        Ok(TimeParser { format, infers_year, id: NEXT_PARSER_ID.fetch_add(1, Ordering::Relaxed) })
    }

    /// Unix milliseconds, or `None` when the text does not parse (never a guessed time).
    ///
    /// `received_ms` is when the record arrived (its Kafka timestamp, or when it was read).
    /// A text without a year (syslog's `Dec 31 23:59:59`) whose `year` is not configured
    /// takes the latest year that puts it no later than [`YEAR_SKEW_MS`] after that: a
    /// log line is written before it arrives. So December's lines read in January fall
    /// in the old year, and a replay of this year's March log in November stays in this
    /// year. (Reading the year once at start, as before, put a long-lived worker's
    /// January lines a year back, where every window had closed.)
    pub fn parse(&self, text: &str, received_ms: i64) -> Option<i64> {
        self.parse_detailed(text, received_ms).ok()
    }

    /// Like [`TimeParser::parse`], with chrono's reason on failure.
    pub(crate) fn parse_detailed(&self, text: &str, received_ms: i64) -> Result<i64, String> {
        let bytes = text.as_bytes();
        if bytes.len() > CACHED_TEXT_BYTES {
            return self.parse_uncached(text, received_ms);
        }
        let last = LAST_PARSE.get();
        if last.parser == self.id
            && last.len == bytes.len()
            && starts_with_short(bytes, &last.text[..last.len])
            && (!self.infers_year || year_still_fits(last.ms, received_ms))
        {
            return Ok(last.ms);
        }
        let ms = self.parse_uncached(text, received_ms)?;
        let mut entry = LastParse { parser: self.id, len: bytes.len(), text: [0; CACHED_TEXT_BYTES], ms };
        entry.text[..bytes.len()].copy_from_slice(bytes);
        LAST_PARSE.set(entry);
        Ok(ms)
    }

    fn parse_uncached(&self, text: &str, received_ms: i64) -> Result<i64, String> {
        match &self.format {
            TimeFormat::Rfc3339 => {
                DateTime::parse_from_rfc3339(text.trim()).map(|t| t.timestamp_millis()).map_err(|e| e.to_string())
            }
            TimeFormat::UnixSeconds => unix_seconds_to_ms(text).ok_or_else(|| "not unix seconds".to_owned()),
            TimeFormat::UnixMillis => unix_ms(text).ok_or_else(|| "not unix milliseconds".to_owned()),
            TimeFormat::Strftime { items, year, offset, common_log } => {
                if *common_log && let Some(ms) = crate::nginx::parse_time_local(text) {
                    return Ok(ms);
                }
                let mut parsed = Parsed::new();
                format::parse(&mut parsed, text, items.iter()).map_err(|e| e.to_string())?;
                let has_year = parsed.year().is_some()
                    || parsed.year_mod_100().is_some()
                    || parsed.year_div_100().is_some()
                    || parsed.isoyear().is_some()
                    || parsed.isoyear_mod_100().is_some()
                    || parsed.timestamp().is_some();
                // Date-only formats mean midnight; chrono insists on an hour and a minute.
                if parsed.hour_div_12().is_none() && parsed.hour_mod_12().is_none() && parsed.timestamp().is_none() {
                    parsed.set_hour(0).map_err(|e| e.to_string())?;
                    if parsed.minute().is_none() {
                        parsed.set_minute(0).map_err(|e| e.to_string())?;
                    }
                }
                let in_year = |year: i32| {
                    let mut parsed = parsed.clone();
                    parsed.set_year(i64::from(year)).map_err(|e| e.to_string())?;
                    to_ms(&parsed, offset)
                };
                match (has_year, year) {
                    (true, _) => to_ms(&parsed, offset),
                    (false, Some(year)) => in_year(*year),
                    (false, None) => {
                        // The latest of three years not after arrival plus skew; `Feb 29`
                        // skips the years without one.
                        let latest = received_ms.saturating_add(YEAR_SKEW_MS);
                        let arrival_year = Utc.timestamp_millis_opt(received_ms).single().map_or(1970, |t| t.year());
                        let mut first_error = None;
                        for year in [arrival_year + 1, arrival_year, arrival_year - 1] {
                            match in_year(year) {
                                Ok(ms) if ms <= latest => return Ok(ms),
                                Ok(_) => {}
                                Err(e) => first_error = first_error.or(Some(e)),
                            }
                        }
                        Err(first_error.unwrap_or_else(|| "no year puts this time before its arrival".to_owned()))
                    }
                }
            }
        }
    }
}

/// The parsed time in unix ms, with `offset` when the text carries none.
fn to_ms(parsed: &Parsed, offset: &FixedOffset) -> Result<i64, String> {
    let dt = if parsed.offset().is_some() { parsed.to_datetime() } else { parsed.to_datetime_with_timezone(offset) };
    dt.map(|t| t.timestamp_millis()).map_err(|e| e.to_string())
}

/// How far after its arrival a year-less time may lie and still take the arrival's year
/// (or the next): clocks and zones disagree, by hours, not by a week.
pub const YEAR_SKEW_MS: i64 = 7 * 24 * 3_600_000;

/// Whether a year-less text cached as `ms` would still take the same year at
/// `received_ms`: it is no later than arrival plus skew, and its next year's instance is
/// later. That instance is at least 364 days on: 365 or 366 for a month and day, 364 or
/// 371 for a week number and weekday (`%W %a`).
fn year_still_fits(ms: i64, received_ms: i64) -> bool {
    const YEAR_MS: i64 = 364 * 24 * 3_600_000;
    let latest = received_ms.saturating_add(YEAR_SKEW_MS);
    ms <= latest && latest < ms.saturating_add(YEAR_MS)
}

/// Whether the format writes a year (or a whole timestamp) into its text.
fn has_year(items: &[Item<'_>]) -> bool {
    items.iter().any(|item| {
        matches!(
            item,
            Item::Numeric(
                Numeric::Year
                    | Numeric::YearDiv100
                    | Numeric::YearMod100
                    | Numeric::IsoYear
                    | Numeric::IsoYearDiv100
                    | Numeric::IsoYearMod100
                    | Numeric::Timestamp,
                _
            ) | Item::Fixed(Fixed::RFC2822 | Fixed::RFC3339)
        )
    })
}

/// Whether a strftime format can produce a calendar date at all; one that cannot would
/// fail on every line, so it is refused at config time.
fn has_date(items: &[Item<'_>]) -> bool {
    items.iter().any(|item| {
        matches!(
            item,
            Item::Numeric(
                Numeric::Day
                    | Numeric::Ordinal
                    | Numeric::Timestamp
                    | Numeric::WeekFromSun
                    | Numeric::WeekFromMon
                    | Numeric::IsoWeek,
                _
            ) | Item::Fixed(Fixed::RFC2822 | Fixed::RFC3339)
        )
    })
}

/// A fixed UTC offset from config text: `Z`, `UTC`, `GMT`, `+07:00`, `-0700`, `+07`.
fn parse_offset(tz: &str) -> Result<FixedOffset, ConfigError> {
    let t = tz.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("gmt") {
        return FixedOffset::east_opt(0).ok_or_else(|| ConfigError::new(ConfigField::Tz, "invalid offset"));
    }
    // chrono wants minutes; `+07` is common shorthand for `+07:00`.
    let hours_only = t.len() == 3 && t.starts_with(['+', '-']) && t[1..].bytes().all(|b| b.is_ascii_digit());
    let full;
    let t = if hours_only {
        full = format!("{t}:00");
        full.as_str()
    } else {
        t
    };
    t.parse::<FixedOffset>().map_err(|e| {
        ConfigError::new(
            ConfigField::Tz,
            format!("{tz:?} is not a fixed offset like \"+08:00\", \"-0700\" or \"UTC\" ({e})"),
        )
    })
}

/// Unix seconds (`1700000000`, `1700000000.123`, `-5.5`, `1.7e9`) to milliseconds.
/// Plain decimals are read exactly (sub-millisecond digits are dropped, as chrono does);
/// exponent forms go through `f64` and are rounded.
pub(crate) fn unix_seconds_to_ms(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Some(ms) = exact_decimal_ms(t, 3) {
        return Some(ms);
    }
    let v: f64 = t.parse().ok()?;
    seconds_f64_to_ms(v)
}

/// Float unix seconds to milliseconds, rounded (floats are binary; `0.123 * 1000` is not
/// exactly 123). `None` when not finite or outside the `i64` millisecond range.
pub(crate) fn seconds_f64_to_ms(v: f64) -> Option<i64> {
    let ms = (v * 1000.0).round();
    // i64::MAX as f64 rounds up to 2^63, which does not fit: keep strictly inside.
    if ms.is_finite() && ms > -9.2e18 && ms < 9.2e18 { Some(ms as i64) } else { None }
}

/// Unix milliseconds, integer or with a fraction that is dropped.
fn unix_ms(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Some(ms) = exact_decimal_ms(t, 0) {
        return Some(ms);
    }
    let v: f64 = t.parse().ok()?;
    if v.is_finite() && v > -9.2e18 && v < 9.2e18 { Some(v.round() as i64) } else { None }
}

/// Reads `[+-]digits[.digits]` exactly and scales it by `10^scale`, truncating the rest
/// of the fraction. `None` for anything else (exponents, `inf`, empty) or on overflow.
fn exact_decimal_ms(t: &str, scale: u32) -> Option<i64> {
    let (negative, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit()) || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: i64 = 0;
    for b in int_part.bytes() {
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let mut frac = frac_part.bytes();
    for _ in 0..scale {
        let digit = frac.next().map_or(0, |b| i64::from(b - b'0'));
        value = value.checked_mul(10)?.checked_add(digit)?;
    }
    Some(if negative { -value } else { value })
}

/// Raw-line event time: a regex with exactly one capture group, plus a [`TimeParser`].
#[derive(Debug, Clone)]
pub struct TimeExtractor {
    /// Finds the time text; its one capture group is the text given to `parser`.
    regex: LineRegex,
    /// Turns the captured text into unix milliseconds.
    parser: TimeParser,
}

impl TimeExtractor {
    /// Errors name the setting: `time.regex`, `time.format`, `time.tz`, `time.year`.
    pub fn new(regex: &str, format: &str, year: Option<i32>, tz: Option<&str>) -> Result<Self, ConfigError> {
        let re = LineRegex::new(regex).map_err(|e| ConfigError::new(ConfigField::TimeRegex, e))?;
        let groups = re.group_info().group_len(PatternID::ZERO).saturating_sub(1);
        if groups != 1 {
            return Err(ConfigError::new(
                ConfigField::TimeRegex,
                format!("needs exactly one capture group around the time, found {groups}"),
            ));
        }
        let parser =
            TimeParser::new(format, year, tz).map_err(|e| ConfigError { field: e.field.in_time_table(), ..e })?;
        Ok(TimeExtractor { regex: re, parser })
    }

    /// Event time of `line` in unix ms; `None` when the regex does not match or the text
    /// does not parse. `received_ms`: when the line arrived (see [`TimeParser::parse`]).
    pub fn extract(&self, line: &str, received_ms: i64) -> Option<i64> {
        self.try_extract(line, received_ms).ok()
    }

    /// Like [`TimeExtractor::extract`], saying why on failure (for `ingest_errors`).
    pub fn try_extract(&self, line: &str, received_ms: i64) -> Result<i64, DecodeError> {
        let text = self
            .regex
            .capture(line, 1)
            .ok_or_else(|| DecodeError::new(ErrorReason::Time, "time regex does not match"))?;
        self.parser
            .parse_detailed(text, received_ms)
            .map_err(|e| DecodeError::new(ErrorReason::Time, format!("time {:?} does not parse: {e}", short(text))))
    }
}

/// Host from a regex's first capture group (or the group named `host` if present).
#[derive(Debug, Clone)]
pub struct HostExtractor {
    /// Finds the host.
    regex: LineRegex,
    /// Which explicit group holds the host: the one named `host`, else the first.
    group: usize,
}

impl HostExtractor {
    /// Errors name the setting `host.regex`.
    pub fn new(regex: &str) -> Result<Self, ConfigError> {
        let re = LineRegex::new(regex).map_err(|e| ConfigError::new(ConfigField::HostRegex, e))?;
        let info = re.group_info();
        if info.group_len(PatternID::ZERO) < 2 {
            return Err(ConfigError::new(ConfigField::HostRegex, "needs a capture group around the host"));
        }
        let group = info.to_index(PatternID::ZERO, "host").unwrap_or(1);
        Ok(HostExtractor { regex: re, group })
    }

    /// The host in `line`; `None` when the regex does not match or captures nothing
    /// (an empty host is no host: the source's default applies).
    pub fn extract<'a>(&self, line: &'a str) -> Option<&'a str> {
        self.regex.capture(line, self.group).filter(|h| !h.is_empty())
    }
}

/// Decodes raw lines: the text is the line; time and host as configured.
#[derive(Debug, Clone)]
pub struct RawDecoder {
    /// Event time from the line; `None` leaves the time to the transport.
    time: Option<TimeExtractor>,
    /// Host from the line; `None` leaves the host to the source.
    host: Option<HostExtractor>,
}

impl RawDecoder {
    pub fn new(time: Option<TimeExtractor>, host: Option<HostExtractor>) -> RawDecoder {
        RawDecoder { time, host }
    }

    /// The line as an event. A configured time that does not match or parse is an
    /// error of reason `time`; a host regex that does not match leaves `host` as `None`.
    /// `received_ms`: when the line arrived (see [`TimeParser::parse`]).
    pub fn decode<'a>(&self, line: &'a str, received_ms: i64) -> Result<Event<'a>, DecodeError> {
        let time_ms = match &self.time {
            Some(t) => Some(t.try_extract(line, received_ms)?),
            None => None,
        };
        let host = self.host.as_ref().and_then(|h| h.extract(line)).map(Cow::Borrowed);
        Ok(Event { time_ms, host, text: Cow::Borrowed(line), fields: Vec::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    /// When the records of these tests arrived: 2026-11-27 12:00 UTC.
    const RECEIVED_MS: i64 = 1_795_780_800_000;

    fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, s).unwrap().and_utc().timestamp_millis()
    }

    /// The per-thread cache of the last parse answers only its own parser and only the
    /// same text: parsers that differ in their year or offset, taking turns on one text,
    /// each get their own answer, and a new text is parsed anew.
    #[test]
    fn the_last_parse_cache_answers_only_the_same_parser_and_text() {
        let (y2025, y2026) = (
            TimeParser::new("%b %d %H:%M:%S", Some(2025), None).unwrap(),
            TimeParser::new("%b %d %H:%M:%S", Some(2026), None).unwrap(),
        );
        let (utc, plus_one) = (
            TimeParser::new(COMMON_LOG_FORMAT, None, None).unwrap(),
            TimeParser::new("%d/%b/%Y:%H:%M:%S", None, Some("+01:00")).unwrap(),
        );
        for _ in 0..2 {
            assert_eq!(y2025.parse("Jun  9 06:06:20", RECEIVED_MS), Some(ms(2025, 6, 9, 6, 6, 20)));
            assert_eq!(y2026.parse("Jun  9 06:06:20", RECEIVED_MS), Some(ms(2026, 6, 9, 6, 6, 20)));
            assert_eq!(y2026.parse("Jun  9 06:06:20", RECEIVED_MS), Some(ms(2026, 6, 9, 6, 6, 20)));
            assert_eq!(y2026.parse("Jun  9 06:06:21", RECEIVED_MS), Some(ms(2026, 6, 9, 6, 6, 21)));
            assert_eq!(y2026.clone().parse("Jun  9 06:06:21", RECEIVED_MS), Some(ms(2026, 6, 9, 6, 6, 21)));
            assert_eq!(y2026.parse("Jun  9 06:06:xx", RECEIVED_MS), None);
            assert_eq!(utc.parse("10/Oct/2000:13:55:36 +0000", RECEIVED_MS), Some(ms(2000, 10, 10, 13, 55, 36)));
            assert_eq!(utc.parse("10/Oct/2000:13:55:36 +0000 ", RECEIVED_MS), None);
            assert_eq!(plus_one.parse("10/Oct/2000:13:55:36", RECEIVED_MS), Some(ms(2000, 10, 10, 12, 55, 36)));
            assert_eq!(utc.parse("10/Oct/2000:13:55:36", RECEIVED_MS), None);
        }
        // Texts too long for the cache still parse.
        let long = TimeParser::new("%Y-%m-%d %H:%M:%S %:z padding that makes the text long", None, None).unwrap();
        let text = "2026-11-27 08:00:00 +00:00 padding that makes the text long";
        assert!(text.len() > CACHED_TEXT_BYTES);
        assert_eq!(long.parse(text, RECEIVED_MS), Some(ms(2026, 11, 27, 8, 0, 0)));
        assert_eq!(long.parse(text, RECEIVED_MS), Some(ms(2026, 11, 27, 8, 0, 0)));
    }

    #[test]
    fn syslog_single_and_double_digit_days() {
        let p = TimeParser::new("%b %d %H:%M:%S", Some(2026), None).unwrap();
        assert_eq!(p.parse("Jun  9 06:06:20", RECEIVED_MS), Some(ms(2026, 6, 9, 6, 6, 20)));
        assert_eq!(p.parse("Dec 10 06:55:46", RECEIVED_MS), Some(ms(2026, 12, 10, 6, 55, 46)));
        assert_eq!(p.parse("Dec 32 06:55:46", RECEIVED_MS), None);
        assert_eq!(p.parse("garbage", RECEIVED_MS), None);
        assert_eq!(p.parse("", RECEIVED_MS), None);
    }

    proptest::proptest! {
        /// The word-wise compare is `starts_with`, for literals up to past the parse
        /// cache's longest text, differing from the text at any one byte or not at all, and
        /// texts shorter and longer than the literal.
        #[test]
        fn starts_with_short_is_starts_with(
            literal in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=CACHED_TEXT_BYTES + 9),
            flip in proptest::option::of((0usize..CACHED_TEXT_BYTES + 9, 1u8..=255)),
            cut in 0usize..4,
            extra in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4),
        ) {
            let mut hay = literal.clone();
            if let Some((at, bits)) = flip.filter(|(at, _)| *at < hay.len()) {
                hay[at] ^= bits;
            }
            hay.truncate(hay.len().saturating_sub(cut));
            hay.extend(extra);
            proptest::prop_assert_eq!(starts_with_short(&hay, &literal), hay.starts_with(&literal));
        }

        /// Captures through the anchored tries at each leading byte (with the one-pass
        /// DFA, or with a dense DFA for a group framed by literals) equal an unanchored
        /// capture search, whatever the line (many leading bytes, none, false starts).
        #[test]
        fn leading_byte_search_equals_the_plain_search(
            pattern in proptest::sample::select(vec![
                r"\[([^\]]+)\]", r"(?:at|on) (\d+)", r"\b(ab+)c", r"[xy]=(\w*)", r"^(a)", r"(b)$",
                r"at=(\d+)", r"(ab+)", r"\[(\w*)\]x", r"=(\w*)", r"\[([a-z]*)\]x", r"=([a-c]*)",
                r"\[([^\]]*)\]", r"a([^b]+)b=", r"\[([^\]x]+)\]", r"=([^=]+)=", r"\[([^\]]{2,})\]",
            ]),
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "[", "]", "a", "b", "c", "x", "y", "=", " ", "at ", "on ", "1", "42", "é", "b=", "]]",
            ]), 0..24),
        ) {
            let line = pieces.concat();
            let fast = LineRegex::new(pattern).unwrap();
            let plain = LineRegex { regex: compile_regex(pattern).unwrap(), leading: None, framed: None };
            if pattern.starts_with(r"\[") || pattern.starts_with("(?:") {
                proptest::prop_assert!(fast.leading.is_some(), "{}", pattern);
            }
            // (`\w` is too big a class for the framed group's small dense DFA.)
            if [r"\[([^\]]+)\]", r"at=(\d+)", r"(ab+)", r"\[([a-z]*)\]x", r"=([a-c]*)"].contains(&pattern) {
                proptest::prop_assert!(fast.framed.is_some(), "{}", pattern);
            }
            let delimited = [r"\[([^\]]+)\]", r"\[([^\]]*)\]", r"a([^b]+)b=", r"=([^=]+)="];
            let is_delimited = fast.framed.as_ref().is_some_and(|framed| matches!(framed.end, FrameEnd::DelimitedRun(_)));
            proptest::prop_assert_eq!(is_delimited, delimited.contains(&pattern), "{}", pattern);
            proptest::prop_assert_eq!(fast.capture(&line, 1), plain.capture(&line, 1));
        }
    }

    proptest::proptest! {
        /// The hand-written common-log-format path gives exactly chrono's answer,
        /// for valid and invalid dates, times and offsets alike.
        #[test]
        fn common_log_fast_path_equals_chrono(
            day in 0u32..33, month in 0usize..13, year in 1960i32..2110, hour in 0u32..26,
            minute in 0u32..62, second in 0u32..62, minus: bool, off_h in 0u32..30, off_m in 0u32..70,
        ) {
            const MONTHS: [&str; 13] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Foo"];
            let sign = if minus { '-' } else { '+' };
            let text = format!("{day:02}/{}/{year}:{hour:02}:{minute:02}:{second:02} {sign}{off_h:02}{off_m:02}", MONTHS[month]);
            let fast = TimeParser::new(COMMON_LOG_FORMAT, None, None).unwrap();
            let TimeFormat::Strftime { items, year, offset, .. } = fast.format.clone() else { unreachable!() };
            let format = TimeFormat::Strftime { items, year, offset, common_log: false };
            let chrono_only = TimeParser { format, infers_year: false, id: NEXT_PARSER_ID.fetch_add(1, Ordering::Relaxed) };
            proptest::prop_assert_eq!(fast.parse(&text, RECEIVED_MS), chrono_only.parse(&text, RECEIVED_MS), "{}", text);
        }
    }

    #[test]
    fn a_year_less_time_takes_the_latest_year_not_after_its_arrival() {
        let p = TimeParser::new("%b %d %H:%M:%S", None, None).unwrap();
        let arrived = |y, mo, d, h| ms(y, mo, d, h, 0, 0);
        // December's lines read in January: the old year. January's read on New Year's Eve
        // (a clock a little ahead): the new one. A replay of March's log in November: this year.
        assert_eq!(p.parse("Dec 31 23:59:59", arrived(2027, 1, 1, 0)), Some(ms(2026, 12, 31, 23, 59, 59)));
        assert_eq!(p.parse("Jan  1 00:00:05", arrived(2026, 12, 31, 23)), Some(ms(2027, 1, 1, 0, 0, 5)));
        assert_eq!(p.parse("Mar  3 10:00:00", arrived(2026, 11, 27, 12)), Some(ms(2026, 3, 3, 10, 0, 0)));
        // Up to a week ahead of arrival keeps the arrival's year; more is last year.
        assert_eq!(p.parse("Dec  3 00:00:00", arrived(2026, 11, 27, 0)), Some(ms(2026, 12, 3, 0, 0, 0)));
        assert_eq!(p.parse("Dec  5 00:00:00", arrived(2026, 11, 27, 0)), Some(ms(2025, 12, 5, 0, 0, 0)));
        // Feb 29 only in a leap year: 2028's, read in March 2028; none within reach in 2026.
        assert_eq!(p.parse("Feb 29 12:00:00", arrived(2028, 3, 1, 0)), Some(ms(2028, 2, 29, 12, 0, 0)));
        assert_eq!(p.parse("Feb 29 12:00:00", arrived(2026, 3, 1, 0)), None);
        // A configured year wins, and a format with a year ignores the arrival.
        let y2020 = TimeParser::new("%b %d %H:%M:%S", Some(2020), None).unwrap();
        assert_eq!(y2020.parse("Dec 31 23:59:59", arrived(2027, 1, 1, 0)), Some(ms(2020, 12, 31, 23, 59, 59)));
        let with_year = TimeParser::new("%Y %b %d %H:%M:%S", None, None).unwrap();
        assert_eq!(with_year.parse("2024 Dec 31 23:59:59", arrived(2027, 1, 1, 0)), Some(ms(2024, 12, 31, 23, 59, 59)));
    }

    /// The parse cache answers a year-less text again only while its arrival gives the
    /// same year: the same text, arriving across New Year, is parsed anew.
    #[test]
    fn the_parse_cache_follows_the_arrival_year() {
        let p = TimeParser::new("%b %d %H:%M:%S", None, None).unwrap();
        let text = "Dec 30 12:00:00";
        assert_eq!(p.parse(text, ms(2026, 12, 30, 13, 0, 0)), Some(ms(2026, 12, 30, 12, 0, 0)));
        assert_eq!(p.parse(text, ms(2026, 12, 31, 0, 0, 0)), Some(ms(2026, 12, 30, 12, 0, 0)));
        // A year on, the same text (nothing else parsed in between) is next year's.
        assert_eq!(p.parse(text, ms(2027, 12, 30, 13, 0, 0)), Some(ms(2027, 12, 30, 12, 0, 0)));
        // And arriving long before it, last year's.
        assert_eq!(p.parse(text, ms(2027, 6, 1, 0, 0, 0)), Some(ms(2026, 12, 30, 12, 0, 0)));
        // A week number and weekday recur after 364 days: week 10's Monday is 2026-03-09
        // and 2027-03-08. Arriving on 2027-03-01 at midnight it is 2026's; twelve hours
        // later 2027's is within the week of skew, and the cached 2026 must not answer.
        let weekly = TimeParser::new("%W %a %H:%M:%S", None, None).unwrap();
        assert_eq!(weekly.parse("10 Mon 12:00:00", ms(2027, 3, 1, 0, 0, 0)), Some(ms(2026, 3, 9, 12, 0, 0)));
        assert_eq!(weekly.parse("10 Mon 12:00:00", ms(2027, 3, 1, 12, 0, 0)), Some(ms(2027, 3, 8, 12, 0, 0)));
    }

    #[test]
    fn apache_and_clf_formats() {
        let p = TimeParser::new("%a %b %d %H:%M:%S %Y", None, None).unwrap();
        assert_eq!(p.parse("Sun Dec 04 04:47:44 2005", RECEIVED_MS), Some(ms(2005, 12, 4, 4, 47, 44)));
        // Wrong weekday for the date: refused, not guessed.
        assert_eq!(p.parse("Mon Dec 04 04:47:44 2005", RECEIVED_MS), None);
        let p = TimeParser::new("%d/%b/%Y:%H:%M:%S %z", None, Some("+08:00")).unwrap();
        // The text's own offset wins over the configured one.
        assert_eq!(p.parse("10/Oct/2000:13:55:36 -0700", RECEIVED_MS), Some(ms(2000, 10, 10, 20, 55, 36)));
    }

    #[test]
    fn configured_offset_applies_without_percent_z() {
        let utc = TimeParser::new("%Y-%m-%d %H:%M:%S", None, None).unwrap();
        let plus7 = TimeParser::new("%Y-%m-%d %H:%M:%S", None, Some("+07:00")).unwrap();
        let minus7 = TimeParser::new("%Y-%m-%d %H:%M:%S", None, Some("-0700")).unwrap();
        let z = TimeParser::new("%Y-%m-%d %H:%M:%S", None, Some("Z")).unwrap();
        let u = TimeParser::new("%Y-%m-%d %H:%M:%S", None, Some("UTC")).unwrap();
        let t = "2026-01-02 03:04:05";
        let base = ms(2026, 1, 2, 3, 4, 5);
        assert_eq!(utc.parse(t, RECEIVED_MS), Some(base));
        assert_eq!(z.parse(t, RECEIVED_MS), Some(base));
        assert_eq!(u.parse(t, RECEIVED_MS), Some(base));
        assert_eq!(plus7.parse(t, RECEIVED_MS), Some(base - 7 * 3_600_000));
        assert_eq!(minus7.parse(t, RECEIVED_MS), Some(base + 7 * 3_600_000));
        let short = TimeParser::new("%Y-%m-%d %H:%M:%S", None, Some("+07")).map(|p| p.parse(t, RECEIVED_MS));
        assert_eq!(short, Ok(Some(base - 7 * 3_600_000)));
    }

    #[test]
    fn fractions_dates_and_timestamps() {
        let p = TimeParser::new("%Y-%m-%dT%H:%M:%S%.f", None, None).unwrap();
        assert_eq!(p.parse("2026-01-02T03:04:05.678", RECEIVED_MS), Some(ms(2026, 1, 2, 3, 4, 5) + 678));
        let p = TimeParser::new("%Y-%m-%d", None, None).unwrap();
        assert_eq!(p.parse("2026-01-02", RECEIVED_MS), Some(ms(2026, 1, 2, 0, 0, 0)));
        let p = TimeParser::new("%s", None, Some("+05:00")).unwrap();
        assert_eq!(p.parse("1700000000", RECEIVED_MS), Some(1_700_000_000_000));
    }

    #[test]
    fn special_formats() {
        let p = TimeParser::new("rfc3339", None, None).unwrap();
        assert_eq!(p.parse("2000-10-10T13:55:36-07:00", RECEIVED_MS), Some(ms(2000, 10, 10, 20, 55, 36)));
        assert_eq!(p.parse("2000-10-10T13:55:36.250Z", RECEIVED_MS), Some(ms(2000, 10, 10, 13, 55, 36) + 250));
        assert_eq!(p.parse("2000-10-10 13:55:36", RECEIVED_MS), None);
        let p = TimeParser::new("unix", None, None).unwrap();
        assert_eq!(p.parse("1700000000", RECEIVED_MS), Some(1_700_000_000_000));
        assert_eq!(p.parse("1700000000.123", RECEIVED_MS), Some(1_700_000_000_123));
        assert_eq!(p.parse("1700000000.1239", RECEIVED_MS), Some(1_700_000_000_123));
        assert_eq!(p.parse(" 1.7e9 ", RECEIVED_MS), Some(1_700_000_000_000));
        assert_eq!(p.parse("-1.5", RECEIVED_MS), Some(-1500));
        assert_eq!(p.parse("99999999999999999999", RECEIVED_MS), None);
        assert_eq!(p.parse("1e300", RECEIVED_MS), None);
        assert_eq!(p.parse("inf", RECEIVED_MS), None);
        assert_eq!(p.parse("NaN", RECEIVED_MS), None);
        assert_eq!(p.parse(".", RECEIVED_MS), None);
        assert_eq!(p.parse("-", RECEIVED_MS), None);
        assert_eq!(p.parse("", RECEIVED_MS), None);
        let p = TimeParser::new("unix_ms", None, None).unwrap();
        assert_eq!(p.parse("1700000000123", RECEIVED_MS), Some(1_700_000_000_123));
        assert_eq!(p.parse("1700000000123.9", RECEIVED_MS), Some(1_700_000_000_123));
        assert_eq!(p.parse("abc", RECEIVED_MS), None);
    }

    #[test]
    fn config_errors_name_the_setting() {
        assert_eq!(TimeParser::new("%Q %d", None, None).unwrap_err().field.as_str(), "format");
        assert_eq!(TimeParser::new("%H:%M:%S", None, None).unwrap_err().field.as_str(), "format");
        assert_eq!(TimeParser::new("", None, None).unwrap_err().field.as_str(), "format");
        assert_eq!(TimeParser::new("%Y-%m-%d", None, Some("Mars/Olympus")).unwrap_err().field.as_str(), "tz");
        assert_eq!(TimeParser::new("%b %d", Some(0), None).unwrap_err().field.as_str(), "year");
        let e = TimeExtractor::new("^(\\d+", "unix", None, None).unwrap_err();
        assert_eq!(e.field.as_str(), "time.regex");
        assert_eq!(TimeExtractor::new("^\\d+", "unix", None, None).unwrap_err().field.as_str(), "time.regex");
        assert_eq!(TimeExtractor::new("^(\\d+) (\\d+)", "unix", None, None).unwrap_err().field.as_str(), "time.regex");
        assert_eq!(TimeExtractor::new("^(\\d+)", "%Q", None, None).unwrap_err().field.as_str(), "time.format");
        assert_eq!(TimeExtractor::new("^(\\d+)", "unix", None, Some("x")).unwrap_err().field.as_str(), "time.tz");
        assert_eq!(TimeExtractor::new("^(\\d+)", "%b %d", Some(-3), None).unwrap_err().field.as_str(), "time.year");
        assert_eq!(HostExtractor::new("^\\S+").unwrap_err().field.as_str(), "host.regex");
        assert_eq!(HostExtractor::new("(").unwrap_err().field.as_str(), "host.regex");
        let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(HostExtractor::new(&deep).unwrap_err().field.as_str(), "host.regex");
        // Too big for the NFA size limit.
        assert_eq!(HostExtractor::new("(\\w{1000}){1000}").unwrap_err().field.as_str(), "host.regex");
        let e = ConfigError::new(ConfigField::TimeRegex, "bad");
        assert_eq!(e.to_string(), "time.regex: bad");
    }

    #[test]
    fn raw_decoder_sshd_line() {
        let time =
            TimeExtractor::new(r"^(\w{3} +\d+ \d\d:\d\d:\d\d)", "%b %d %H:%M:%S", Some(2026), Some("+00:00")).unwrap();
        let host = HostExtractor::new(r"^\w{3} +\d+ \d\d:\d\d:\d\d (\S+)").unwrap();
        let d = RawDecoder::new(Some(time), Some(host));
        let line = "Jun  9 06:06:20 combo sshd(pam_unix)[19939]: authentication failure";
        let ev = d.decode(line, RECEIVED_MS).unwrap();
        assert_eq!(ev.time_ms, Some(ms(2026, 6, 9, 6, 6, 20)));
        assert_eq!(ev.host.as_deref(), Some("combo"));
        assert_eq!(ev.text, line);
        assert!(ev.fields.is_empty());
        assert!(matches!(ev.text, Cow::Borrowed(_)));

        let err = d.decode("no time here", RECEIVED_MS).unwrap_err();
        assert_eq!(err.reason, ErrorReason::Time);
        let err = d.decode("Jun 99 06:06:20 host x", RECEIVED_MS).unwrap_err();
        assert_eq!(err.reason, ErrorReason::Time);
        assert!(err.detail.contains("Jun 99"), "{}", err.detail);
    }

    #[test]
    fn raw_decoder_without_extractors() {
        let d = RawDecoder::new(None, None);
        let ev = d.decode("anything", RECEIVED_MS).unwrap();
        assert_eq!(ev.time_ms, None);
        assert_eq!(ev.host, None);
        assert_eq!(ev.text, "anything");
    }

    #[test]
    fn host_named_group_and_misses() {
        let h = HostExtractor::new(r"^(\d+) (?P<host>\S+)").unwrap();
        assert_eq!(h.extract("12 web-1 rest"), Some("web-1"));
        assert_eq!(h.extract("no digits"), None);
        let h = HostExtractor::new(r"host=(\S*)").unwrap();
        assert_eq!(h.extract("a host= b"), None);
        assert_eq!(h.extract("a host=db-2 b"), Some("db-2"));
        let h = HostExtractor::new(r"(x)?host=(?P<host>\S+)").unwrap();
        assert_eq!(h.extract("host=h"), Some("h"));
        // Many groups before the host group: slots spill to the heap.
        let many = format!("{}(?P<host>h\\d)", "(a)?".repeat(40));
        let h = HostExtractor::new(&many).unwrap();
        assert_eq!(h.extract("xx h7"), Some("h7"));
    }

    #[test]
    fn decode_detail_is_short() {
        let t = TimeExtractor::new("^(.*)$", "%Y-%m-%d", None, None).unwrap();
        let long = "x".repeat(10_000);
        let e = t.try_extract(&long, RECEIVED_MS).unwrap_err();
        assert!(e.detail.len() < 300);
    }
}
