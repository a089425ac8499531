//! The standard library: every [`Builtin`], its arity, one-line summary and semantics.
//!
//! "Number" means int or float; "chars" are Unicode scalar values, as `STR_LEN_R` counts them;
//! string functions take strings (not urls) unless a row says otherwise. Index arguments are
//! ints, and bounds `0 <= start <= end <= length` are `index out of range` errors otherwise.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::io::BufRead;
use std::rc::Rc;

use super::{print_value, Arity, Native, NativeCall};
use crate::array::Array;
use crate::error::{ErrorKind, OpError};
use crate::ops::{self, MAX_ARRAY_LEN, MAX_STRING_BYTES};
use crate::value::{Str, Tag, Value};

macro_rules! builtins {
    ($( $variant:ident $name:literal $arity:expr, $f:ident, $summary:literal; )*) => {
        /// A standard-library native (`Native::builtin`): the compiled tier recognises these by
        /// identity, not by name, to inline the pure ones.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Builtin {
            $( #[doc = $summary] $variant, )*
        }

        impl Builtin {
            /// Every builtin, in the order `mdvm natives` lists them.
            pub const ALL: &'static [Builtin] = &[$(Builtin::$variant),*];

            /// The name programs call it by.
            pub fn name(self) -> &'static str {
                match self { $(Builtin::$variant => $name,)* }
            }

            /// Accepted argument counts.
            pub fn arity(self) -> Arity {
                match self { $(Builtin::$variant => $arity,)* }
            }

            /// One line saying what it does.
            pub fn summary(self) -> &'static str {
                match self { $(Builtin::$variant => $summary,)* }
            }

            /// Runs it (the arity is already checked).
            pub fn call(self, call: &mut NativeCall<'_>) -> Result<Value, OpError> {
                match self { $(Builtin::$variant => $f(call),)* }
            }
        }
    };
}

use Arity::{AtLeast, Exact};

builtins! {
    Print "print" AtLeast(0), print, "print each argument as DEBUG_PRINT does (empty prints nothing); returns empty";
    Len "len" Exact(1), len, "chars of a string, elements of an array, entries of a dict";
    Str "str" Exact(1), str, "the display form, as CONCAT_STR_R writes it (empty is `empty`)";
    Int "int" Exact(1), int, "CAST_R to int: floats truncate, bools are 0/1, text is parsed";
    Float "float" Exact(1), float, "CAST_R to float: ints and bools convert, text is parsed";
    Abs "abs" Exact(1), abs, "absolute value of a number (abs of the smallest int overflows)";
    Min "min" AtLeast(1), min, "the smallest number argument itself, the first of equals; NaN if any is NaN";
    Max "max" AtLeast(1), max, "the largest number argument itself, the first of equals; NaN if any is NaN";
    Floor "floor" Exact(1), floor, "an int as itself; a float rounded down to an int";
    Ceil "ceil" Exact(1), ceil, "an int as itself; a float rounded up to an int";
    Round "round" Exact(1), round, "an int as itself; a float rounded to the nearest int, halves away from zero";
    Sqrt "sqrt" Exact(1), sqrt, "square root as a float (sqrt(-1) is NaN)";
    Exp "exp" Exact(1), exp, "e to the power of a number, a float";
    Ln "ln" Exact(1), ln, "natural logarithm as a float (ln(0) is -inf, ln(-1) NaN)";
    Sin "sin" Exact(1), sin, "sine of radians, a float";
    Cos "cos" Exact(1), cos, "cosine of radians, a float";
    Pow "pow" Exact(2), pow, "int ** int >= 0 with overflow checked; otherwise a float power";
    Upper "upper" Exact(1), upper, "the string in upper case (Unicode case mapping)";
    Lower "lower" Exact(1), lower, "the string in lower case (Unicode case mapping)";
    Trim "trim" Exact(1), trim, "the string without leading and trailing whitespace";
    Substring "substring" Exact(3), substring, "chars [start, end) of a string";
    Find "find" Exact(2), find, "char index of the first occurrence of sub, or -1";
    Contains "contains" Exact(2), contains, "whether the string contains sub";
    Replace "replace" Exact(3), replace, "the string with every occurrence of from replaced by to";
    Split "split" Exact(2), split, "array of the parts between occurrences of a non-empty separator";
    Join "join" Exact(2), join, "the elements' display forms separated by sep";
    Push "push" Exact(2), push, "the array with v appended";
    Pop "pop" Exact(1), pop, "the array without its last element (empty array: index error)";
    Last "last" Exact(1), last, "the last element (empty array: index error)";
    Slice "slice" Exact(3), slice, "a new array of elements [start, end)";
    Reverse "reverse" Exact(1), reverse, "a new array, elements in reverse order";
    Sort "sort" Exact(1), sort, "a new array stably sorted: all numbers (numeric) or all strings (code points)";
    IndexOf "index_of" Exact(2), index_of, "first index whose element equals v (as EQ_R), or -1";
    Range "range" Exact(2), range, "the ints start .. end-1 (empty if end <= start)";
    TypeOf "type_of" Exact(1), type_of, "the type name: empty, bool, int, float, string, url, function, array, dict";
    IsNumber "is_number" Exact(1), is_number, "whether the value is an int or a float";
    IsInt "is_int" Exact(1), is_int, "whether the value is an int";
    IsFloat "is_float" Exact(1), is_float, "whether the value is a float";
    IsString "is_string" Exact(1), is_string, "whether the value is a string";
    IsBool "is_bool" Exact(1), is_bool, "whether the value is a bool";
    IsArray "is_array" Exact(1), is_array, "whether the value is an array";
    IsDict "is_dict" Exact(1), is_dict, "whether the value is a dict";
    IsEmpty "is_empty" Exact(1), is_empty, "whether the value is empty";
    ReadLine "read_line" Exact(0), read_line, "the next line of standard input without its line ending; empty at the end (flushes the output first)";
    Clock "clock" Exact(0), clock, "seconds since the program started, a float";
    Spawn "spawn" AtLeast(1), spawn, "starts function f (a name or function value) with these arguments in a new process; returns its pid";
    SelfPid "self" Exact(0), self_pid, "the calling process's pid (main is 0)";
    Send "send" Exact(2), send, "appends v to the mailbox of process pid (nothing if it has ended); returns empty";
    Receive "receive" Exact(0), receive, "the oldest message in the caller's mailbox; blocks while it is empty";
    TryReceive "try_receive" Exact(0), try_receive, "the oldest message in the caller's mailbox, or empty at once when there is none";
    Wait "wait" Exact(1), wait, "blocks until process pid ends and returns its result; its error fails the caller";
    Link "link" Exact(1), link, "links the caller and process pid: when one ends with an error, the other fails too";
    ProcessCount "process_count" Exact(0), process_count, "the number of processes running, runnable or blocked";
}

impl Builtin {
    /// True for the natives that may block the calling process ([`crate::process`]):
    /// `receive` and `wait`. A blocked call does nothing and runs again when the process is
    /// woken.
    pub fn may_block(self) -> bool {
        matches!(self, Builtin::Receive | Builtin::Wait)
    }
}

impl Builtin {
    /// For the type tests (`is_int`, ...), the tags they are true for, a bit per [`Tag`]
    /// (`1 << tag`); `None` for other builtins. The one definition both tiers use.
    pub fn type_mask(self) -> Option<u16> {
        let bit = |t: Tag| 1u16 << t as u16;
        Some(match self {
            Builtin::IsNumber => bit(Tag::Int) | bit(Tag::Float),
            Builtin::IsInt => bit(Tag::Int),
            Builtin::IsFloat => bit(Tag::Float),
            Builtin::IsString => bit(Tag::Str),
            Builtin::IsBool => bit(Tag::Bool),
            Builtin::IsArray => bit(Tag::Array),
            Builtin::IsDict => bit(Tag::Dict),
            Builtin::IsEmpty => bit(Tag::Empty),
            _ => return None,
        })
    }

    /// The registry entry.
    pub fn native(self) -> Native {
        Native {
            name: self.name().into(),
            arity: self.arity(),
            summary: self.summary().into(),
            builtin: Some(self),
            func: Rc::new(move |call: &mut NativeCall<'_>| self.call(call)),
        }
    }
}

fn type_err(what: &str, v: &Value) -> OpError {
    OpError::type_error(format!("expected {what}, got {}", v.type_name()))
}

fn string_arg<'a>(v: &'a Value, what: &str) -> Result<&'a Rc<Str>, OpError> {
    match v {
        Value::Str(s) => Ok(s),
        v => Err(type_err(what, v)),
    }
}

fn array_arg(v: &Value) -> Result<&Rc<Array>, OpError> {
    match v {
        Value::Array(a) => Ok(a),
        v => Err(type_err("an array", v)),
    }
}

fn int_arg(v: &Value, what: &str) -> Result<i64, OpError> {
    match v {
        Value::Int(i) => Ok(*i),
        v => Err(type_err(what, v)),
    }
}

fn number_arg(v: &Value) -> Result<f64, OpError> {
    match v {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        v => Err(type_err("a number", v)),
    }
}

/// `start` and `end` as a range of `0..=len`.
fn bounds(start: &Value, end: &Value, len: usize) -> Result<(usize, usize), OpError> {
    let (s, e) = (int_arg(start, "an int start")?, int_arg(end, "an int end")?);
    if s < 0 || s > e || e as u64 > len as u64 {
        return Err(OpError::new(ErrorKind::IndexOutOfRange, format!("range [{s}, {e}) out of bounds for length {len}")));
    }
    Ok((s as usize, e as usize))
}

fn too_long() -> OpError {
    ops::string_too_long()
}

fn check_array_len(n: usize) -> Result<(), OpError> {
    if n as u64 > MAX_ARRAY_LEN as u64 {
        return Err(OpError::new(ErrorKind::Value, format!("array longer than {MAX_ARRAY_LEN} elements")));
    }
    Ok(())
}

/// Byte offset of char `i` of `s` (`i <= chars`).
fn char_offset(s: &Str, i: usize) -> usize {
    if s.byte_len() == s.char_len() {
        return i;
    }
    s.as_str().char_indices().nth(i).map_or(s.byte_len(), |(b, _)| b)
}

fn print(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    for v in c.args.iter() {
        print_value(c.out, v)?;
    }
    Ok(Value::Empty)
}

fn len(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    Ok(Value::Int(match &c.args[0] {
        Value::Str(s) => s.char_len() as i64,
        Value::Array(a) => a.len() as i64,
        Value::Dict(d) => d.len() as i64,
        v => return Err(type_err("a string, array or dict", v)),
    }))
}

fn str(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    match &c.args[0] {
        Value::Str(s) => Ok(Value::Str(s.clone())),
        v => ops::display_value(v),
    }
}

fn int(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    ops::cast(&c.args[0], 2)
}

fn float(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    ops::cast(&c.args[0], 3)
}

fn abs(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    match &c.args[0] {
        Value::Int(i) => i
            .checked_abs()
            .map(Value::Int)
            .ok_or_else(|| OpError::new(ErrorKind::Overflow, format!("abs({i}) overflows a 64-bit integer"))),
        Value::Float(f) => Ok(Value::Float(f.abs())),
        v => Err(type_err("a number", v)),
    }
}

/// Numeric order of two numbers that are not NaN (ints exactly, mixed as floats).
fn num_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        _ => number_arg(a).unwrap_or(0.0).partial_cmp(&number_arg(b).unwrap_or(0.0)).unwrap_or(Ordering::Equal),
    }
}

/// The exact numeric order of two numbers that are not NaN: an int and a float compare by
/// their mathematical values (not the int rounded to a float), so the order is total and
/// transitive for `sort` even beyond 2^53.
fn exact_cmp(a: &Value, b: &Value) -> Ordering {
    fn int_float(i: i64, f: f64) -> Ordering {
        const TWO_63: f64 = 9_223_372_036_854_775_808.0;
        if f >= TWO_63 {
            return Ordering::Less;
        }
        if f < -TWO_63 {
            return Ordering::Greater;
        }
        let t = f.trunc();
        match i.cmp(&(t as i64)) {
            Ordering::Equal if f > t => Ordering::Less,
            Ordering::Equal if f < t => Ordering::Greater,
            o => o,
        }
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::Int(x), Value::Float(y)) => int_float(*x, *y),
        (Value::Float(x), Value::Int(y)) => int_float(*y, *x).reverse(),
        _ => Ordering::Equal,
    }
}

fn extreme(c: &mut NativeCall<'_>, want: Ordering) -> Result<Value, OpError> {
    let mut best = 0;
    for (i, v) in c.args.iter().enumerate() {
        if number_arg(v)?.is_nan() {
            // Every argument must still be a number.
            for w in &c.args[i + 1..] {
                number_arg(w)?;
            }
            return Ok(v.clone());
        }
        if i > 0 && num_cmp(v, &c.args[best]) == want {
            best = i;
        }
    }
    Ok(c.args[best].clone())
}

fn min(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    extreme(c, Ordering::Less)
}

fn max(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    extreme(c, Ordering::Greater)
}

/// A float already rounded to a whole number, as an int.
fn whole_to_int(name: &str, x: f64, r: f64) -> Result<Value, OpError> {
    if (-9223372036854775808.0..9223372036854775808.0).contains(&r) {
        Ok(Value::Int(r as i64))
    } else {
        Err(OpError::new(ErrorKind::Overflow, format!("{name}({x}) does not fit a 64-bit integer")))
    }
}

fn rounding(c: &mut NativeCall<'_>, name: &str, f: fn(f64) -> f64) -> Result<Value, OpError> {
    match &c.args[0] {
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Float(x) => whole_to_int(name, *x, f(*x)),
        v => Err(type_err("a number", v)),
    }
}

fn floor(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    rounding(c, "floor", f64::floor)
}

fn ceil(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    rounding(c, "ceil", f64::ceil)
}

fn round(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    rounding(c, "round", f64::round)
}

/// The float functions: both tiers call these same functions, so results agree bit for bit.
pub fn float_fn(b: Builtin) -> Option<fn(f64) -> f64> {
    Some(match b {
        Builtin::Sqrt => f64::sqrt,
        Builtin::Exp => f64::exp,
        Builtin::Ln => f64::ln,
        Builtin::Sin => f64::sin,
        Builtin::Cos => f64::cos,
        _ => return None,
    })
}

fn float_math(c: &mut NativeCall<'_>, b: Builtin) -> Result<Value, OpError> {
    let x = number_arg(&c.args[0])?;
    Ok(Value::Float(float_fn(b).expect("a float builtin")(x)))
}

fn sqrt(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    float_math(c, Builtin::Sqrt)
}

fn exp(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    float_math(c, Builtin::Exp)
}

fn ln(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    float_math(c, Builtin::Ln)
}

fn sin(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    float_math(c, Builtin::Sin)
}

fn cos(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    float_math(c, Builtin::Cos)
}

fn pow(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    match (&c.args[0], &c.args[1]) {
        (Value::Int(a), Value::Int(b)) if *b >= 0 => {
            let r = match a {
                0 => Some(if *b == 0 { 1 } else { 0 }),
                1 => Some(1),
                -1 => Some(if b % 2 == 0 { 1 } else { -1 }),
                _ => u32::try_from(*b).ok().and_then(|e| a.checked_pow(e)),
            };
            r.map(Value::Int)
                .ok_or_else(|| OpError::new(ErrorKind::Overflow, format!("pow({a}, {b}) overflows a 64-bit integer")))
        }
        (a, b) => Ok(Value::Float(number_arg(a)?.powf(number_arg(b)?))),
    }
}

fn text_result(s: String) -> Result<Value, OpError> {
    if s.len() > MAX_STRING_BYTES {
        return Err(too_long());
    }
    Ok(Value::str(s))
}

fn upper(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    text_result(string_arg(&c.args[0], "a string")?.as_str().to_uppercase())
}

fn lower(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    text_result(string_arg(&c.args[0], "a string")?.as_str().to_lowercase())
}

fn trim(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let s = string_arg(&c.args[0], "a string")?;
    let t = s.as_str().trim();
    if t.len() == s.byte_len() {
        return Ok(Value::Str(s.clone()));
    }
    Ok(Value::str(t))
}

fn substring(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let s = string_arg(&c.args[0], "a string")?;
    let (a, b) = bounds(&c.args[1], &c.args[2], s.char_len())?;
    let (x, y) = (char_offset(s, a), char_offset(s, b));
    Ok(Value::str(&s.as_str()[x..y]))
}

fn find(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let s = string_arg(&c.args[0], "a string")?;
    let sub = string_arg(&c.args[1], "a string to find")?;
    Ok(Value::Int(match s.as_str().find(sub.as_str()) {
        Some(b) if s.byte_len() == s.char_len() => b as i64,
        Some(b) => s.as_str()[..b].chars().count() as i64,
        None => -1,
    }))
}

fn contains(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let s = string_arg(&c.args[0], "a string")?;
    let sub = string_arg(&c.args[1], "a string to find")?;
    Ok(Value::Bool(s.as_str().contains(sub.as_str())))
}

fn replace(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let s = string_arg(&c.args[0], "a string")?;
    let from = string_arg(&c.args[1], "a string to replace")?;
    let to = string_arg(&c.args[2], "a replacement string")?;
    let n = if from.byte_len() == 0 { s.char_len() + 1 } else { s.as_str().matches(from.as_str()).count() };
    let size = (s.byte_len() - n * from.byte_len()) as u128 + n as u128 * to.byte_len() as u128;
    if size > MAX_STRING_BYTES as u128 {
        return Err(too_long());
    }
    crate::memory::reserve(size as usize)?;
    Ok(Value::str(s.as_str().replace(from.as_str(), to.as_str())))
}

fn split(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let s = string_arg(&c.args[0], "a string")?;
    let sep = string_arg(&c.args[1], "a string separator")?;
    if sep.byte_len() == 0 {
        return Err(OpError::new(ErrorKind::Value, "the separator must not be empty"));
    }
    let mut parts = Vec::new();
    for p in s.as_str().split(sep.as_str()) {
        check_array_len(parts.len() + 1)?;
        parts.push(Value::str(p));
    }
    Ok(Value::Array(Rc::new(Array::from_values(parts))))
}

fn join(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let xs = array_arg(&c.args[0])?;
    let sep = string_arg(&c.args[1], "a string separator")?;
    // Bounded while it is built: an element with a huge display form stops it at the limit.
    let mut out = ops::text_builder();
    for (i, v) in xs.iter().enumerate() {
        if i > 0 {
            out.write_str(sep.as_str()).map_err(|_| ops::text_refused())?;
        }
        v.write_display(&mut out).map_err(|_| ops::text_refused())?;
    }
    Ok(Value::str(out.into_string()))
}

/// The array argument `i` taken out of the arguments, unshared when the caller passed its only
/// reference (see the module documentation of [`super`]).
fn take_array(c: &mut NativeCall<'_>, i: usize) -> Result<Rc<Array>, OpError> {
    match std::mem::take(&mut c.args[i]) {
        Value::Array(a) => Ok(a),
        v => Err(type_err("an array", &v)),
    }
}

fn push(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let mut xs = take_array(c, 0)?;
    check_array_len(xs.len() + 1)?;
    let v = std::mem::take(&mut c.args[1]);
    // A shared array is copied; a full buffer doubles; a packed array may convert.
    let copy = if Rc::strong_count(&xs) > 1 { xs.heap_bytes() } else { 0 };
    crate::memory::reserve(copy + xs.push_bytes(&v))?;
    Rc::make_mut(&mut xs).push(v);
    Ok(Value::Array(xs))
}

fn empty_array_err() -> OpError {
    OpError::new(ErrorKind::IndexOutOfRange, "the array is empty")
}

fn pop(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let mut xs = take_array(c, 0)?;
    if xs.is_empty() {
        return Err(empty_array_err());
    }
    Rc::make_mut(&mut xs).pop();
    Ok(Value::Array(xs))
}

fn last(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let xs = array_arg(&c.args[0])?;
    match xs.len() {
        0 => Err(empty_array_err()),
        n => Ok(xs.get(n - 1).expect("index below len")),
    }
}

fn slice(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let xs = array_arg(&c.args[0])?;
    let (a, b) = bounds(&c.args[1], &c.args[2], xs.len())?;
    Ok(Value::Array(Rc::new(Array::from_values((a..b).map(|i| xs.get(i).expect("in bounds")).collect()))))
}

fn reverse(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let xs = array_arg(&c.args[0])?;
    let mut v: Vec<Value> = xs.iter().collect();
    v.reverse();
    Ok(Value::Array(Rc::new(Array::from_values(v))))
}

fn sort(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let xs = array_arg(&c.args[0])?;
    let mut v: Vec<Value> = xs.iter().collect();
    let numbers = v.iter().all(|x| matches!(x, Value::Int(_) | Value::Float(_)));
    let strings = v.iter().all(|x| matches!(x, Value::Str(_)));
    if numbers {
        // NaN sorts after every other number.
        let nan = |x: &Value| matches!(x, Value::Float(f) if f.is_nan());
        v.sort_by(|a, b| match (nan(a), nan(b)) {
            (false, false) => exact_cmp(a, b),
            (x, y) => x.cmp(&y),
        });
    } else if strings {
        v.sort_by(|a, b| match (a, b) {
            (Value::Str(x), Value::Str(y)) => x.as_str().cmp(y.as_str()),
            _ => Ordering::Equal,
        });
    } else {
        let bad = v.iter().find(|x| !matches!(x, Value::Int(_) | Value::Float(_) | Value::Str(_)));
        return Err(OpError::type_error(match bad {
            Some(x) => format!("cannot sort an array holding {}", x.type_name()),
            None => "cannot sort numbers and strings together".to_string(),
        }));
    }
    Ok(Value::Array(Rc::new(Array::from_values(v))))
}

fn index_of(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let xs = array_arg(&c.args[0])?;
    let needle = &c.args[1];
    for (i, x) in xs.iter().enumerate() {
        if x.try_equals(needle)? {
            return Ok(Value::Int(i as i64));
        }
    }
    Ok(Value::Int(-1))
}

fn range(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let (a, b) = (int_arg(&c.args[0], "an int start")?, int_arg(&c.args[1], "an int end")?);
    if b <= a {
        return Ok(Value::Array(Rc::new(Array::empties(0))));
    }
    let n = (b as i128 - a as i128) as u128;
    if n > MAX_ARRAY_LEN as u128 {
        return Err(OpError::new(ErrorKind::Value, format!("array longer than {MAX_ARRAY_LEN} elements")));
    }
    Ok(Value::Array(Rc::new(Array::from_ints((a..b).collect()))))
}

fn type_of(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    Ok(Value::str(c.args[0].type_name()))
}

/// A type test: whether the argument's tag is in the builtin's [`Builtin::type_mask`].
fn type_test(c: &NativeCall<'_>, b: Builtin) -> Result<Value, OpError> {
    let mask = b.type_mask().expect("a type test");
    Ok(Value::Bool(mask >> c.args[0].tag() as u16 & 1 != 0))
}

fn is_number(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    type_test(c, Builtin::IsNumber)
}

fn is_int(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    type_test(c, Builtin::IsInt)
}

fn is_float(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    type_test(c, Builtin::IsFloat)
}

fn is_string(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    type_test(c, Builtin::IsString)
}

fn is_bool(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    type_test(c, Builtin::IsBool)
}

fn is_array(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    type_test(c, Builtin::IsArray)
}

fn is_dict(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    type_test(c, Builtin::IsDict)
}

fn is_empty(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    type_test(c, Builtin::IsEmpty)
}

/// The next line of input; bytes that are not UTF-8 read as U+FFFD (as a lossy decoder reads
/// them), so any input is a string. A line longer than the string limit is a value error.
fn read_line(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    // What the program printed (a prompt) is delivered before it waits for input, and stays
    // delivered if the process is stopped while it waits.
    c.out.flush().map_err(|e| OpError::new(ErrorKind::Output, format!("cannot write output: {e}")))?;
    let mut line = Vec::new();
    let n = std::io::Read::take(&mut *c.input, MAX_STRING_BYTES as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| OpError::new(ErrorKind::Output, format!("cannot read input: {e}")))?;
    if n == 0 {
        return Ok(Value::Empty);
    }
    if line.len() > MAX_STRING_BYTES {
        return Err(too_long());
    }
    if line.ends_with(b"\n") {
        line.pop();
        if line.ends_with(b"\r") {
            line.pop();
        }
    }
    Ok(Value::str(String::from_utf8_lossy(&line)))
}

fn clock(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    Ok(Value::Float(c.started.elapsed().as_secs_f64()))
}

// Processes ([`crate::process`]): the machine's scheduler state, through `NativeCall::process`.

/// The scheduler of the run, or an error when the native runs outside a machine.
fn processes<'c, 'a>(c: &'c mut NativeCall<'a>) -> Result<&'c mut crate::process::ProcessCall<'a>, OpError> {
    c.process.as_mut().ok_or_else(|| OpError::new(ErrorKind::Value, "processes run only inside a machine's run"))
}

fn spawn(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let p = c.process.as_mut().ok_or_else(|| OpError::new(ErrorKind::Value, "processes run only inside a machine's run"))?;
    p.procs.spawn(p.program, c.args)
}

fn self_pid(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    Ok(Value::Int(processes(c)?.procs.current as i64))
}

fn send(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let p = c.process.as_mut().ok_or_else(|| OpError::new(ErrorKind::Value, "processes run only inside a machine's run"))?;
    p.procs.send(c.args)
}

fn receive(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    processes(c)?.procs.receive(true)
}

fn try_receive(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    processes(c)?.procs.receive(false)
}

fn wait(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let p = c.process.as_mut().ok_or_else(|| OpError::new(ErrorKind::Value, "processes run only inside a machine's run"))?;
    p.procs.wait(c.args)
}

fn link(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    let p = c.process.as_mut().ok_or_else(|| OpError::new(ErrorKind::Value, "processes run only inside a machine's run"))?;
    p.procs.link(c.args)
}

fn process_count(c: &mut NativeCall<'_>) -> Result<Value, OpError> {
    Ok(Value::Int(processes(c)?.procs.live as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::natives::Natives;

    fn call(name: &str, args: Vec<Value>) -> Result<Value, OpError> {
        let n = Natives::standard();
        let mut args = args;
        let mut out = Vec::new();
        let mut input: &[u8] = b"one\r\ntwo";
        let mut c = NativeCall { args: &mut args, out: &mut out, input: &mut input, started: std::time::Instant::now(), process: None };
        n.call(n.lookup(name).expect("a builtin"), &mut c)
    }

    fn show(r: Result<Value, OpError>) -> String {
        match r {
            Ok(v) => format!("{}:{}", v.type_name(), v.display_string()),
            Err(e) => format!("{}: {}", e.kind, e.message),
        }
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    fn arr(v: Vec<Value>) -> Value {
        Value::Array(Rc::new(Array::from_values(v)))
    }

    #[test]
    fn arity_and_type_errors_name_the_native() {
        assert_eq!(show(call("len", vec![])), "type error: `len` takes 1 argument, got 0");
        assert_eq!(show(call("min", vec![])), "type error: `min` takes at least 1 argument, got 0");
        assert_eq!(show(call("len", vec![Value::Int(3)])), "type error: `len`: expected a string, array or dict, got int");
        let url = Value::Url(Rc::new(Str::new("http://x")));
        assert_eq!(show(call("len", vec![url])), "type error: `len`: expected a string, array or dict, got url");
    }

    #[test]
    fn numbers() {
        assert_eq!(show(call("abs", vec![Value::Int(i64::MIN)])).split(':').next(), Some("integer overflow"));
        assert_eq!(show(call("min", vec![Value::Int(2), Value::Float(2.0), Value::Int(1)])), "int:1");
        assert_eq!(show(call("max", vec![Value::Int(2), Value::Float(2.0)])), "int:2");
        assert_eq!(show(call("max", vec![Value::Int(2), Value::Float(f64::NAN), Value::Int(9)])), "float:NaN");
        assert_eq!(show(call("round", vec![Value::Float(-2.5)])), "int:-3");
        assert_eq!(show(call("floor", vec![Value::Float(-0.5)])), "int:-1");
        assert!(call("ceil", vec![Value::Float(f64::INFINITY)]).is_err());
        assert_eq!(show(call("pow", vec![Value::Int(-1), Value::Int(i64::MAX)])), "int:-1");
        assert_eq!(show(call("pow", vec![Value::Int(2), Value::Int(-1)])), "float:0.5");
        assert_eq!(call("pow", vec![Value::Int(3), Value::Int(40)]).unwrap_err().kind, ErrorKind::Overflow);
        assert_eq!(show(call("sqrt", vec![Value::Int(-1)])), "float:NaN");
    }

    #[test]
    fn text() {
        assert_eq!(show(call("substring", vec![s("héllo"), Value::Int(1), Value::Int(3)])), "string:él");
        assert_eq!(show(call("find", vec![s("héllo"), s("l")])), "int:2");
        assert_eq!(show(call("split", vec![s("a,b,,c"), s(",")])), "array:[a, b, , c]");
        assert_eq!(call("split", vec![s("a"), s("")]).unwrap_err().kind, ErrorKind::Value);
        assert_eq!(show(call("upper", vec![s("straße")])), "string:STRASSE");
        assert_eq!(show(call("replace", vec![s("aaa"), s("a"), s("bb")])), "string:bbbbbb");
        assert_eq!(call("substring", vec![s("ab"), Value::Int(1), Value::Int(3)]).unwrap_err().kind, ErrorKind::IndexOutOfRange);
    }

    #[test]
    fn arrays() {
        let xs = arr(vec![Value::Int(3), Value::Float(1.5), Value::Int(2)]);
        assert_eq!(show(call("sort", vec![xs.clone()])), "array:[1.5, 2, 3]");
        assert_eq!(show(call("push", vec![xs.clone(), s("x")])), "array:[3, 1.5, 2, x]");
        assert_eq!(show(call("pop", vec![xs.clone()])), "array:[3, 1.5]");
        assert_eq!(show(call("index_of", vec![xs.clone(), Value::Float(2.0)])), "int:2");
        assert_eq!(show(call("range", vec![Value::Int(2), Value::Int(5)])), "array:[2, 3, 4]");
        assert_eq!(call("pop", vec![arr(vec![])]).unwrap_err().kind, ErrorKind::IndexOutOfRange);
        assert_eq!(call("sort", vec![arr(vec![Value::Int(1), s("a")])]).unwrap_err().kind, ErrorKind::Type);
        // Beyond 2^53 an int and a float compare exactly (a total order).
        let big = 1i64 << 53;
        let xs = arr(vec![Value::Int(big + 1), Value::Float(big as f64), Value::Int(big - 1), Value::Float(0.5), Value::Int(0)]);
        assert_eq!(show(call("sort", vec![xs])), "array:[0, 0.5, 9007199254740991, 9007199254740992, 9007199254740993]");
    }

    #[test]
    fn read_line_strips_endings() {
        let n = Natives::standard();
        let i = n.lookup("read_line").unwrap();
        let mut input: &[u8] = b"one\r\nt\xffo\nthree";
        let mut out = Vec::new();
        let mut lines = Vec::new();
        for _ in 0..4 {
            let mut args = [];
            let mut c = NativeCall { args: &mut args, out: &mut out, input: &mut input, started: std::time::Instant::now(), process: None };
            lines.push(n.call(i, &mut c).unwrap().display_string());
        }
        assert_eq!(lines, ["one", "t\u{fffd}o", "three", "empty"]);
    }
}
