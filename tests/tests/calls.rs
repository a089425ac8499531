//! Call resolution: callees named by strings built at run time, in every tier.

use mdvm_tests::{assemble_bytes, run_bytes_mode, Mode};

/// A loop that calls, through one `CALL_R`, functions named by strings it builds each time
/// (`"f" + "a"`, then `"f" + "b"`, ...): each name is freed before the next is made, so a new
/// name may be allocated where the previous one was. The call site's cache of the last name
/// must not take the new name for the old one.
const RUN_TIME_NAMES: &str = "
.module run_time_names
        LOAD_CONST_R r0, int 0           ; i
        LOAD_CONST_R r1, int 6
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r3, str \"f\"
loop:   LT_R r4, r0, r1
        JUMP_IF_NOT_R r4, done
        LOAD_CONST_R r8, int 2
        MOD_R r9, r0, r8
        LOAD_CONST_R r5, str \"a\"
        JUMP_IF_NOT_R r9, named
        LOAD_CONST_R r5, str \"b\"
named:  CONCAT_STR_R r6, r3, r5          ; \"fa\" or \"fb\", a new string each time
        CALL_R r6, r7, r0
        DEBUG_PRINT r7
        LOAD_CONST_R r6, empty           ; free the name
        ADD_R r0, r0, r2
        JUMP_R loop
done:   RETURN_R
.func fa
        LOAD_CONST_R r1, str \"a\"
        CONCAT_STR_R r2, r1, r0
        RETURN_R r2
.func fb
        LOAD_CONST_R r1, str \"b\"
        CONCAT_STR_R r2, r1, r0
        RETURN_R r2
";

#[test]
fn callees_named_at_run_time_resolve_by_name_in_every_tier() {
    let bytes = assemble_bytes(RUN_TIME_NAMES);
    for mode in Mode::ALL {
        let run = run_bytes_mode(&bytes, mode, Some(1_000_000), None);
        assert_eq!(run.error, None, "{mode}");
        assert_eq!(String::from_utf8_lossy(&run.stdout), "a0\nb1\na2\nb3\na4\nb5\n", "{mode}");
    }
}
