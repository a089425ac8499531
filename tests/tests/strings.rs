//! Strings grown in place (`s = s + t` by `ADD_R` or `CONCAT_STR_R` when the register holds
//! the string alone) keep value semantics in every tier: a copy taken before the append, a
//! string stored in an array, a dict or a global, and the constant the string started from all
//! keep their text.

use mdvm_tests::{assemble_bytes, run_bytes_mode, Mode};

/// Appends to `s` (r0) in a loop, keeping copies of it along the way: `t` (a `MOVE_R` copy), an
/// array element, a dict value and a global. Each append goes in place only while nothing
/// else holds the string. The constant `"s"` is loaded again at the end.
const SHARED_APPENDS: &str = "
.module shared_appends
        LOAD_CONST_R r0, str \"s\"
        LOAD_CONST_R r1, int 0           ; i
        LOAD_CONST_R r2, int 40
        LOAD_CONST_R r3, int 1
        LOAD_CONST_R r4, str \"ab\"
        LOAD_CONST_R r5, int 3
        NEW_ARRAY_R r6, r5
        DICT_NEW_R r7
        LOAD_CONST_R r8, str \"k\"
        LOAD_CONST_R r9, int 0
loop:   LT_R r10, r1, r2
        JUMP_IF_NOT_R r10, done
        ADD_R r0, r0, r4                 ; in place while unshared
        CONCAT_STR_R r0, r0, r1          ; in place, with an int's text
        LOAD_CONST_R r11, int 10
        EQ_R r12, r1, r11
        JUMP_IF_NOT_R r12, next
        MOVE_R r13, r0                   ; t = s at i = 10
        ARRAY_SET_R r6, r9, r0           ; a[0] = s
        DICT_SET_R r7, r8, r0            ; d[\"k\"] = s
        STORE_GLOBAL_R r0, str \"g\"     ; g = s
next:   ADD_R r1, r1, r3
        JUMP_R loop
done:   STR_LEN_R r14, r0
        DEBUG_PRINT r14
        DEBUG_PRINT r13
        ARRAY_GET_R r15, r6, r9
        DEBUG_PRINT r15
        DICT_GET_R r15, r7, r8
        DEBUG_PRINT r15
        LOAD_GLOBAL_R r15, str \"g\"
        DEBUG_PRINT r15
        LOAD_CONST_R r15, str \"s\"
        DEBUG_PRINT r15
        RETURN_R
";

#[test]
fn strings_appended_in_place_keep_value_semantics_in_every_tier() {
    // The text at i = 10: "s" then "ab" and i's digits for i = 0..=10.
    let mut at_ten = String::from("s");
    for i in 0..=10 {
        at_ten.push_str(&format!("ab{i}"));
    }
    let mut full = String::from("s");
    for i in 0..40 {
        full.push_str(&format!("ab{i}"));
    }
    let expected = format!("{}\n{at_ten}\n{at_ten}\n{at_ten}\n{at_ten}\ns\n", full.chars().count());
    let bytes = assemble_bytes(SHARED_APPENDS);
    for mode in Mode::ALL {
        let run = run_bytes_mode(&bytes, mode, Some(1_000_000), None);
        assert_eq!(run.error, None, "{mode}");
        assert_eq!(String::from_utf8_lossy(&run.stdout), expected, "{mode}");
    }
}
