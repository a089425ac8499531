//! The semantics of every value operation (ARCHITECTURE.md, *Semantics*).
//!
//! These functions are the one definition both tiers use: the interpreter calls them (after its
//! inline int fast paths, which must agree with them), and the JIT's runtime helpers call them.

use std::rc::Rc;

use crate::error::{ErrorKind, OpError};
use crate::value::{Array, BoundedString, Dict, Str, Tag, Value};

/// Largest array `NEW_ARRAY_R` makes (elements), so a bad size is an error, not an abort.
pub const MAX_ARRAY_LEN: i64 = 1 << 26;
/// Largest string (bytes) concatenation and conversion to a string make.
pub const MAX_STRING_BYTES: usize = 1 << 30;

/// The error of a string that would be longer than [`MAX_STRING_BYTES`].
#[cold]
pub fn string_too_long() -> OpError {
    OpError::new(ErrorKind::Value, "string longer than 1 GiB")
}

/// A writer for text being built: it refuses to pass [`MAX_STRING_BYTES`] or the memory still
/// available under the active limit ([`crate::memory::headroom`]), whichever is smaller.
pub fn text_builder() -> BoundedString {
    BoundedString::new(MAX_STRING_BYTES.min(crate::memory::headroom()))
}

/// The error for text that a [`text_builder`] refused: the fuel its work needs
/// ([`crate::work`]), the string limit, or the memory limit when that is what ran out.
#[cold]
pub fn text_refused() -> OpError {
    if crate::work::ran_short() {
        return crate::work::exhausted(crate::work::left() / crate::work::BYTES_PER_FUEL);
    }
    match crate::memory::active_limit() {
        Some(limit) if crate::memory::headroom() < MAX_STRING_BYTES => crate::memory::exceeded(limit),
        _ => string_too_long(),
    }
}

/// The display form of `v` as a string value (`CAST_R` to string, the `str` native): a value
/// error as soon as the text would pass [`MAX_STRING_BYTES`] (or an out-of-memory error at the
/// memory limit), before more is built.
pub fn display_value(v: &Value) -> Result<Value, OpError> {
    let mut s = text_builder();
    v.write_display(&mut s).map_err(|_| text_refused())?;
    Ok(Value::str(s.into_string()))
}

fn type_err2(op: &str, a: &Value, b: &Value) -> OpError {
    OpError::type_error(format!("cannot {op} {} and {}", a.type_name(), b.type_name()))
}

#[cold]
fn overflow(op: &str, a: i64, b: i64) -> OpError {
    OpError::new(ErrorKind::Overflow, format!("{a} {op} {b} overflows a 64-bit integer"))
}

#[cold]
fn div_zero(op: &str) -> OpError {
    OpError::new(ErrorKind::DivisionByZero, format!("{op} by zero"))
}

/// Both operands as floats, when both are numbers and at least one is a float.
#[inline]
fn float_pair(a: &Value, b: &Value) -> Option<(f64, f64)> {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => Some((*x, *y)),
        (Value::Int(x), Value::Float(y)) => Some((*x as f64, *y)),
        (Value::Float(x), Value::Int(y)) => Some((*x, *y as f64)),
        _ => None,
    }
}

/// Concatenates two strings, checking the size limit.
pub fn concat_strs(a: &Str, b: &Str) -> Result<Value, OpError> {
    if a.byte_len() + b.byte_len() > MAX_STRING_BYTES {
        return Err(string_too_long());
    }
    crate::memory::reserve(a.byte_len() + b.byte_len())?;
    Ok(Value::Str(Rc::new(Str::concat(a.as_str(), a.char_len(), b.as_str(), b.char_len()))))
}

/// `ADD_R`: checked int addition, float addition (ints promote), string concatenation.
pub fn add(a: &Value, b: &Value) -> Result<Value, OpError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.checked_add(*y).map(Value::Int).ok_or_else(|| overflow("+", *x, *y)),
        (Value::Str(x), Value::Str(y)) => concat_strs(x, y),
        _ => match float_pair(a, b) {
            Some((x, y)) => Ok(Value::Float(x + y)),
            None => Err(type_err2("add", a, b)),
        },
    }
}

/// `SUB_R`.
pub fn sub(a: &Value, b: &Value) -> Result<Value, OpError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.checked_sub(*y).map(Value::Int).ok_or_else(|| overflow("-", *x, *y)),
        _ => match float_pair(a, b) {
            Some((x, y)) => Ok(Value::Float(x - y)),
            None => Err(type_err2("subtract", a, b)),
        },
    }
}

/// `MUL_R`.
pub fn mul(a: &Value, b: &Value) -> Result<Value, OpError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.checked_mul(*y).map(Value::Int).ok_or_else(|| overflow("*", *x, *y)),
        _ => match float_pair(a, b) {
            Some((x, y)) => Ok(Value::Float(x * y)),
            None => Err(type_err2("multiply", a, b)),
        },
    }
}

/// Floor division of ints: `-7 / 2 = -4`; `/ 0` and `i64::MIN / -1` are errors.
#[inline]
pub fn int_div(x: i64, y: i64) -> Result<i64, OpError> {
    if y == 0 {
        return Err(div_zero("division"));
    }
    let q = x.checked_div(y).ok_or_else(|| overflow("/", x, y))?;
    if (x % y != 0) && ((x < 0) != (y < 0)) {
        Ok(q - 1)
    } else {
        Ok(q)
    }
}

/// Floor modulo of ints (the result takes the divisor's sign): `-7 % 2 = 1`; `% 0` is an error.
#[inline]
pub fn int_mod(x: i64, y: i64) -> Result<i64, OpError> {
    if y == 0 {
        return Err(div_zero("modulo"));
    }
    let r = x.wrapping_rem(y);
    if r != 0 && ((r < 0) != (y < 0)) {
        Ok(r + y)
    } else {
        Ok(r)
    }
}

/// `DIV_R`: floor division on ints, float division otherwise; by 0 or 0.0 is an error.
pub fn div(a: &Value, b: &Value) -> Result<Value, OpError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => int_div(*x, *y).map(Value::Int),
        _ => match float_pair(a, b) {
            Some((x, y)) => {
                if y == 0.0 {
                    Err(div_zero("division"))
                } else {
                    Ok(Value::Float(x / y))
                }
            }
            None => Err(type_err2("divide", a, b)),
        },
    }
}

/// `MOD_R`: floor modulo on ints, Rust `%` (sign of the dividend) on floats.
pub fn rem(a: &Value, b: &Value) -> Result<Value, OpError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => int_mod(*x, *y).map(Value::Int),
        _ => match float_pair(a, b) {
            Some((x, y)) => {
                if y == 0.0 {
                    Err(div_zero("modulo"))
                } else {
                    Ok(Value::Float(x % y))
                }
            }
            None => Err(type_err2("take the modulo of", a, b)),
        },
    }
}

/// `NEG_R`: checked on ints.
pub fn neg(a: &Value) -> Result<Value, OpError> {
    match a {
        Value::Int(x) => x
            .checked_neg()
            .map(Value::Int)
            .ok_or_else(|| OpError::new(ErrorKind::Overflow, format!("-({x}) overflows a 64-bit integer"))),
        Value::Float(x) => Ok(Value::Float(-x)),
        _ => Err(OpError::type_error(format!("cannot negate {}", a.type_name()))),
    }
}

/// An ordering comparison (`LT_R`, `GT_R`, `LTE_R`, `GTE_R`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
}

impl Cmp {
    #[inline(always)]
    fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Lt => a < b,
            Cmp::Gt => a > b,
            Cmp::Le => a <= b,
            Cmp::Ge => a >= b,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Gt => ">",
            Cmp::Le => "<=",
            Cmp::Ge => ">=",
        }
    }
}

/// Orders two numbers (mixed ints and floats compare as floats) or two strings (by code
/// point); anything else is a type error.
pub fn compare(op: Cmp, a: &Value, b: &Value) -> Result<bool, OpError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(op.apply(x, y)),
        (Value::Str(x), Value::Str(y)) => {
            crate::work::charge(x.byte_len().min(y.byte_len()))?;
            Ok(op.apply(x.as_str(), y.as_str()))
        }
        _ => match float_pair(a, b) {
            Some((x, y)) => Ok(op.apply(x, y)),
            None => Err(OpError::type_error(format!(
                "cannot compare {} {} {}",
                a.type_name(),
                op.symbol(),
                b.type_name()
            ))),
        },
    }
}

/// `CONCAT_STR_R`: the display forms of both operands joined (empty as `empty`); a value
/// error as soon as the text would pass [`MAX_STRING_BYTES`], before more is built.
pub fn concat_display(a: &Value, b: &Value) -> Result<Value, OpError> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => concat_strs(x, y),
        _ => {
            let mut s = text_builder();
            a.write_display(&mut s).and_then(|()| b.write_display(&mut s)).map_err(|_| text_refused())?;
            Ok(Value::str(s.into_string()))
        }
    }
}

/// `CONCAT_STR_R` into a string that its destination register holds alone (`a`, which is
/// also the left operand): `a` grows in place by the text of `b`, amortized O(its length),
/// instead of being copied. The checks, work charges and errors are those of
/// [`concat_display`], in the same order, so fuel and failures do not depend on whether the
/// string was shared; on an error `a` is unchanged.
pub fn append_display(a: &mut Str, b: &Value) -> Result<(), OpError> {
    match b {
        Value::Str(y) => {
            // As `concat_strs`.
            if a.byte_len() + y.byte_len() > MAX_STRING_BYTES {
                return Err(string_too_long());
            }
            crate::memory::reserve(a.byte_len() + y.byte_len())?;
            a.push(y.as_str(), y.char_len());
        }
        _ => {
            // As the text builder of `concat_display`: `a`'s text is written (checked and
            // charged) first, then `b`'s display form, within the same bound.
            let limit = MAX_STRING_BYTES.min(crate::memory::headroom());
            if a.byte_len() > limit {
                return Err(text_refused());
            }
            crate::work::charge(a.byte_len()).map_err(|_| text_refused())?;
            let mut tail = BoundedString::new(limit - a.byte_len());
            b.write_display(&mut tail).map_err(|_| text_refused())?;
            let tail = tail.as_str();
            a.push(tail, tail.chars().count());
        }
    }
    Ok(())
}

/// `STR_LEN_R`: length in characters of a string (or URL).
pub fn str_len(a: &Value) -> Result<Value, OpError> {
    match a {
        Value::Str(s) | Value::Url(s) => Ok(Value::Int(s.char_len() as i64)),
        _ => Err(OpError::type_error(format!("cannot take the text length of {}", a.type_name()))),
    }
}

/// `NEW_ARRAY_R`: `size` empties; `size` must be an int in `0..=MAX_ARRAY_LEN`.
pub fn new_array(size: &Value) -> Result<Value, OpError> {
    match size {
        Value::Int(n) if (0..=MAX_ARRAY_LEN).contains(n) => Ok(Value::Array(Rc::new(Array::empties(*n as usize)))),
        Value::Int(n) => Err(OpError::new(ErrorKind::Value, format!("cannot make an array of {n} elements"))),
        _ => Err(OpError::type_error(format!("array size must be int, not {}", size.type_name()))),
    }
}

#[inline]
fn index_of(len: usize, idx: &Value) -> Result<usize, OpError> {
    match idx {
        Value::Int(i) if *i >= 0 && (*i as u64) < len as u64 => Ok(*i as usize),
        Value::Int(i) => Err(OpError::new(
            ErrorKind::IndexOutOfRange,
            format!("index {i} out of range for an array of length {len}"),
        )),
        _ => Err(OpError::type_error(format!("array index must be int, not {}", idx.type_name()))),
    }
}

/// `ARRAY_GET_R`.
pub fn array_get(arr: &Value, idx: &Value) -> Result<Value, OpError> {
    match arr {
        Value::Array(a) => Ok(a.get(index_of(a.len(), idx)?).expect("index checked")),
        _ => Err(OpError::type_error(format!("cannot index {}", arr.type_name()))),
    }
}

/// `ARRAY_SET_R`: updates the array held in `arr` (copying it first only if it is shared).
pub fn array_set(arr: &mut Value, idx: &Value, val: Value) -> Result<(), OpError> {
    match arr {
        Value::Array(a) => {
            let i = index_of(a.len(), idx)?;
            // Copy-on-write and a conversion to the values form may allocate much at once.
            let copy = if Rc::strong_count(a) > 1 { a.heap_bytes() } else { 0 };
            crate::memory::reserve(copy + a.set_bytes(i, &val))?;
            Rc::make_mut(a).set(i, val);
            Ok(())
        }
        _ => Err(OpError::type_error(format!("cannot set an element of {}", arr.type_name()))),
    }
}

/// `ARRAY_LEN_R`.
pub fn array_len(arr: &Value) -> Result<Value, OpError> {
    match arr {
        Value::Array(a) => Ok(Value::Int(a.len() as i64)),
        _ => Err(OpError::type_error(format!("cannot take the array length of {}", arr.type_name()))),
    }
}

fn dict_ref<'a>(d: &'a Value, op: &str) -> Result<&'a Rc<Dict>, OpError> {
    match d {
        Value::Dict(d) => Ok(d),
        _ => Err(OpError::type_error(format!("cannot {op} {}, a dict is needed", d.type_name()))),
    }
}

fn dict_mut<'a>(d: &'a mut Value, op: &str) -> Result<&'a mut Dict, OpError> {
    match d {
        Value::Dict(d) => {
            if Rc::strong_count(d) > 1 {
                crate::memory::reserve(crate::value::dict_heap_bytes(d))?;
            }
            Ok(Rc::make_mut(d))
        }
        _ => Err(OpError::type_error(format!("cannot {op} {}, a dict is needed", d.type_name()))),
    }
}

fn key_of(k: &Value) -> Result<&Rc<Str>, OpError> {
    match k {
        Value::Str(s) => Ok(s),
        _ => Err(OpError::type_error(format!("dict keys must be strings, not {}", k.type_name()))),
    }
}

/// `DICT_NEW_R`.
pub fn dict_new() -> Value {
    Value::Dict(Rc::new(Dict::default()))
}

/// `DICT_GET_R`: empty when the key is absent.
pub fn dict_get(d: &Value, k: &Value) -> Result<Value, OpError> {
    let d = dict_ref(d, "look up a key in")?;
    Ok(d.get(key_of(k)?).cloned().unwrap_or(Value::Empty))
}

/// `DICT_SET_R`: an existing key keeps its place.
pub fn dict_set(d: &mut Value, k: &Value, v: Value) -> Result<(), OpError> {
    let key = key_of(k)?;
    dict_mut(d, "set a key in")?.set(key, v);
    Ok(())
}

/// `DICT_REMOVE_R`: removing a missing key does nothing; the others keep their order.
pub fn dict_remove(d: &mut Value, k: &Value) -> Result<(), OpError> {
    let key = key_of(k)?;
    if dict_ref(d, "remove a key from")?.contains_key(key) {
        let key = key.clone();
        dict_mut(d, "remove a key from")?.remove(&key);
    }
    Ok(())
}

/// `DICT_CONTAINS_R`.
pub fn dict_contains(d: &Value, k: &Value) -> Result<Value, OpError> {
    let d = dict_ref(d, "look up a key in")?;
    Ok(Value::Bool(d.contains_key(key_of(k)?)))
}

/// `DICT_KEYS_R`: the keys as an array of strings, in insertion order.
pub fn dict_keys(d: &Value) -> Result<Value, OpError> {
    let d = dict_ref(d, "list the keys of")?;
    Ok(Value::Array(Rc::new(Array::from_values(d.keys().map(|k| Value::Str(k.clone())).collect()))))
}

/// `DICT_VALUES_R`: the values as an array, in insertion order.
pub fn dict_values(d: &Value) -> Result<Value, OpError> {
    let d = dict_ref(d, "list the values of")?;
    Ok(Value::Array(Rc::new(Array::from_values(d.values().cloned().collect()))))
}

/// `DICT_CLEAR_R`.
pub fn dict_clear(d: &mut Value) -> Result<(), OpError> {
    match d {
        Value::Dict(rc) => {
            match Rc::get_mut(rc) {
                Some(m) => m.clear(),
                None => *rc = Rc::new(Dict::default()),
            }
            Ok(())
        }
        _ => Err(OpError::type_error(format!("cannot clear {}, a dict is needed", d.type_name()))),
    }
}

/// `DICT_LEN_R`.
pub fn dict_len(d: &Value) -> Result<Value, OpError> {
    Ok(Value::Int(dict_ref(d, "count the entries of")?.len() as i64))
}

/// `CHECK_TYPE_R`: does `v` have type id `ty` (255 matches everything)?
pub fn check_type(v: &Value, ty: u16) -> bool {
    ty == mdbc::operand::TYPE_UNKNOWN || v.tag() as u16 == ty
}

/// `CAST_R` for every target except `function` (which needs the program's function table and
/// is done by the caller): bool by truthiness; int from int, float (truncated, must fit), bool
/// or decimal text; float from numbers, bool or text; string as the display form; url from text;
/// unknown is the identity; a value already of the target type is returned unchanged; anything
/// else is a type error, unparsable text a value error.
pub fn cast(v: &Value, ty: u16) -> Result<Value, OpError> {
    if check_type(v, ty) {
        return Ok(v.clone());
    }
    let bad = || OpError::type_error(format!("cannot convert {} to {}", v.type_name(), mdbc::operand::type_name(ty).unwrap_or("?")));
    match Tag::from_u8(ty as u8).filter(|_| ty <= 8) {
        Some(Tag::Bool) => Ok(Value::Bool(v.truthy())),
        Some(Tag::Int) => match v {
            Value::Float(f) => {
                let t = f.trunc();
                if (-9223372036854775808.0..9223372036854775808.0).contains(&t) {
                    Ok(Value::Int(t as i64))
                } else {
                    Err(OpError::new(ErrorKind::Overflow, format!("float {f} does not fit a 64-bit integer")))
                }
            }
            Value::Bool(b) => Ok(Value::Int(*b as i64)),
            Value::Str(s) => s.as_str().trim().parse::<i64>().map(Value::Int).map_err(|_| {
                OpError::new(ErrorKind::Value, format!("text {:?} is not a whole number", s.as_str()))
            }),
            _ => Err(bad()),
        },
        Some(Tag::Float) => match v {
            Value::Int(i) => Ok(Value::Float(*i as f64)),
            Value::Bool(b) => Ok(Value::Float(*b as u8 as f64)),
            Value::Str(s) => s.as_str().trim().parse::<f64>().map(Value::Float).map_err(|_| {
                OpError::new(ErrorKind::Value, format!("text {:?} is not a number", s.as_str()))
            }),
            _ => Err(bad()),
        },
        Some(Tag::Str) => display_value(v),
        Some(Tag::Url) => match v {
            Value::Str(s) => Ok(Value::Url(s.clone())),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(v: i64) -> Value {
        Value::Int(v)
    }
    fn f(v: f64) -> Value {
        Value::Float(v)
    }

    /// `CONCAT_STR_R` of `a` and `b` both ways, under a meter with `fuel` left: copying
    /// (`concat_display`) and in place (`append_display`). Returns each outcome (the text and
    /// its character count, or the error kind) and the fuel each charged.
    fn concat_both_ways(a: &str, b: &Value, fuel: u64) -> [(Result<(String, usize), ErrorKind>, u64); 2] {
        let meter = crate::work::begin(fuel);
        let copied = concat_display(&Value::str(a), b)
            .map(|v| match v {
                Value::Str(s) => (s.as_str().to_string(), s.char_len()),
                v => panic!("not a string: {v:?}"),
            })
            .map_err(|e| e.kind);
        let copied_fuel = meter.end();
        let meter = crate::work::begin(fuel);
        let mut grown = Str::new(a);
        let appended = append_display(&mut grown, b).map(|()| (grown.as_str().to_string(), grown.char_len())).map_err(|e| e.kind);
        let appended_fuel = meter.end();
        if appended.is_err() {
            assert_eq!(grown.as_str(), a, "a failed append leaves the string as it was");
        }
        [(copied, copied_fuel), (appended, appended_fuel)]
    }

    #[test]
    fn appending_in_place_matches_concatenation() {
        let long = "é".repeat(300);
        let operands = [Value::str("ab"), Value::str(long.as_str()), i(-42), f(2.5), Value::Bool(true), Value::Empty, Value::str("")];
        for a in ["", "xyz", long.as_str()] {
            for b in &operands {
                // Unmetered, then with fuel enough, then with too little for the work.
                for fuel in [u64::MAX, 1_000, 3, 0] {
                    let [copied, appended] = concat_both_ways(a, b, fuel);
                    assert_eq!(copied, appended, "{a:?} + {b:?} with fuel {fuel}");
                }
            }
        }
    }

    #[test]
    fn int_arithmetic_is_checked() {
        assert!(matches!(add(&i(2), &i(3)), Ok(Value::Int(5))));
        assert_eq!(add(&i(i64::MAX), &i(1)).unwrap_err().kind, ErrorKind::Overflow);
        assert_eq!(sub(&i(i64::MIN), &i(1)).unwrap_err().kind, ErrorKind::Overflow);
        assert_eq!(mul(&i(1 << 40), &i(1 << 40)).unwrap_err().kind, ErrorKind::Overflow);
        assert_eq!(div(&i(i64::MIN), &i(-1)).unwrap_err().kind, ErrorKind::Overflow);
        assert_eq!(neg(&i(i64::MIN)).unwrap_err().kind, ErrorKind::Overflow);
        assert!(matches!(neg(&i(5)), Ok(Value::Int(-5))));
    }

    #[test]
    fn division_floors_and_modulo_takes_divisor_sign() {
        let cases = [(-7, 2, -4, 1), (7, -2, -4, -1), (-7, -2, 3, -1), (7, 2, 3, 1), (6, -3, -2, 0), (i64::MIN, 1, i64::MIN, 0)];
        for (a, b, q, r) in cases {
            assert!(matches!(div(&i(a), &i(b)), Ok(Value::Int(x)) if x == q), "{a}/{b}");
            assert!(matches!(rem(&i(a), &i(b)), Ok(Value::Int(x)) if x == r), "{a}%{b}");
        }
        assert!(matches!(rem(&i(i64::MIN), &i(-1)), Ok(Value::Int(0))));
        assert_eq!(div(&i(1), &i(0)).unwrap_err().kind, ErrorKind::DivisionByZero);
        assert_eq!(rem(&i(1), &i(0)).unwrap_err().kind, ErrorKind::DivisionByZero);
        assert_eq!(div(&f(1.0), &f(0.0)).unwrap_err().kind, ErrorKind::DivisionByZero);
        assert_eq!(rem(&f(1.0), &i(0)).unwrap_err().kind, ErrorKind::DivisionByZero);
        assert!(matches!(rem(&f(-7.5), &f(2.0)), Ok(Value::Float(x)) if x == -1.5));
    }

    #[test]
    fn mixed_numbers_promote_and_strings_concatenate() {
        assert!(matches!(add(&i(1), &f(0.5)), Ok(Value::Float(x)) if x == 1.5));
        assert!(matches!(div(&i(7), &f(2.0)), Ok(Value::Float(x)) if x == 3.5));
        assert_eq!(add(&Value::str("a"), &Value::str("b")).unwrap().display_string(), "ab");
        assert_eq!(add(&Value::str("a"), &i(1)).unwrap_err().kind, ErrorKind::Type);
        assert_eq!(add(&Value::Bool(true), &i(1)).unwrap_err().kind, ErrorKind::Type);
        assert_eq!(add(&Value::Empty, &i(1)).unwrap_err().kind, ErrorKind::Type);
    }

    #[test]
    fn comparisons() {
        assert!(compare(Cmp::Lt, &i(1), &f(1.5)).unwrap());
        assert!(compare(Cmp::Lt, &Value::str("Zebra"), &Value::str("apple")).unwrap());
        assert!(!compare(Cmp::Ge, &f(f64::NAN), &f(0.0)).unwrap());
        assert_eq!(compare(Cmp::Lt, &Value::Empty, &i(1)).unwrap_err().kind, ErrorKind::Type);
        assert_eq!(compare(Cmp::Gt, &Value::Bool(true), &Value::Bool(false)).unwrap_err().kind, ErrorKind::Type);
    }

    #[test]
    fn concat_display_and_len() {
        assert_eq!(concat_display(&Value::str("k"), &i(3)).unwrap().display_string(), "k3");
        assert_eq!(concat_display(&Value::Empty, &f(1.0)).unwrap().display_string(), "empty1");
        assert!(matches!(str_len(&Value::str("héllo")), Ok(Value::Int(5))));
        assert_eq!(str_len(&i(3)).unwrap_err().kind, ErrorKind::Type);
    }

    /// Text conversions of a value nested 300,000 deep, on a thread whose 256 KiB stack a
    /// recursive walk would overflow: the full display form, and the limit's error (with
    /// nothing built past it) for a value whose display form is 2^60 times a 1 MiB string.
    #[test]
    fn text_conversions_of_deep_and_huge_values() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                const DEEP: usize = 300_000;
                let mut deep = Value::Int(7);
                for _ in 0..DEEP {
                    deep = Value::array(vec![deep]);
                }
                let text = format!("{}7{}", "[".repeat(DEEP), "]".repeat(DEEP));
                let joined = concat_display(&Value::str("v="), &deep).unwrap();
                assert!(matches!(&joined, Value::Str(s) if s.as_str().strip_prefix("v=") == Some(text.as_str())));
                assert!(matches!(cast(&deep, 4), Ok(Value::Str(s)) if s.as_str() == text));
                assert!(matches!(concat_display(&deep, &deep), Ok(Value::Str(s)) if s.char_len() == 2 * text.len()));
                drop(deep);
                let mut huge = Value::str("x".repeat(1 << 20));
                for _ in 0..60 {
                    huge = Value::array(vec![huge.clone(), huge]);
                }
                for r in [concat_display(&Value::Empty, &huge), concat_display(&huge, &i(1)), cast(&huge, 4)] {
                    assert_eq!(r.unwrap_err(), OpError::new(ErrorKind::Value, "string longer than 1 GiB"));
                }
            })
            .unwrap()
            .join()
            .expect("no stack overflow");
    }

    #[test]
    fn arrays_have_value_semantics() {
        let mut a = new_array(&i(3)).unwrap();
        let copy = a.clone();
        array_set(&mut a, &i(1), i(9)).unwrap();
        assert_eq!(a.display_string(), "[empty, 9, empty]");
        assert_eq!(copy.display_string(), "[empty, empty, empty]");
        assert_eq!(array_get(&a, &i(3)).unwrap_err().kind, ErrorKind::IndexOutOfRange);
        assert_eq!(array_get(&a, &i(-1)).unwrap_err().kind, ErrorKind::IndexOutOfRange);
        assert_eq!(array_get(&a, &f(1.0)).unwrap_err().kind, ErrorKind::Type);
        assert_eq!(new_array(&i(-1)).unwrap_err().kind, ErrorKind::Value);
        assert!(matches!(array_len(&a), Ok(Value::Int(3))));
    }

    #[test]
    fn dicts_keep_insertion_order() {
        let mut d = dict_new();
        for k in ["a", "b", "c"] {
            dict_set(&mut d, &Value::str(k), Value::str(k.to_uppercase())).unwrap();
        }
        let snapshot = d.clone();
        dict_set(&mut d, &Value::str("a"), i(1)).unwrap();
        dict_remove(&mut d, &Value::str("b")).unwrap();
        dict_remove(&mut d, &Value::str("zz")).unwrap();
        dict_set(&mut d, &Value::str("b"), i(2)).unwrap();
        assert_eq!(d.display_string(), "{a: 1, c: C, b: 2}");
        assert_eq!(snapshot.display_string(), "{a: A, b: B, c: C}");
        assert!(matches!(dict_get(&d, &Value::str("nope")), Ok(Value::Empty)));
        assert_eq!(dict_get(&d, &i(1)).unwrap_err().kind, ErrorKind::Type);
        assert_eq!(dict_keys(&d).unwrap().display_string(), "[a, c, b]");
        assert_eq!(dict_values(&d).unwrap().display_string(), "[1, C, 2]");
        dict_clear(&mut d).unwrap();
        assert!(matches!(dict_len(&d), Ok(Value::Int(0))));
        assert!(matches!(dict_len(&snapshot), Ok(Value::Int(3))));
    }

    #[test]
    fn casts() {
        assert!(matches!(cast(&f(-2.7), 2), Ok(Value::Int(-2))));
        assert!(matches!(cast(&Value::str(" 42 "), 2), Ok(Value::Int(42))));
        assert_eq!(cast(&Value::str("x"), 2).unwrap_err().kind, ErrorKind::Value);
        assert_eq!(cast(&f(1e300), 2).unwrap_err().kind, ErrorKind::Overflow);
        assert!(matches!(cast(&i(3), 3), Ok(Value::Float(x)) if x == 3.0));
        assert_eq!(cast(&f(2.0), 4).unwrap().display_string(), "2");
        assert!(matches!(cast(&Value::str(""), 1), Ok(Value::Bool(false))));
        assert_eq!(cast(&Value::Empty, 2).unwrap_err().kind, ErrorKind::Type);
        assert!(check_type(&i(1), 2) && !check_type(&i(1), 3) && check_type(&Value::Empty, 255));
    }
}
