//! Compiled code is freed with its VM: creating, running and dropping many VMs with the
//! compiled tier keeps the process's resident memory flat (it grew by about 38 KB per VM when
//! code was never freed). One test in its own binary, so no other test's allocations share the
//! process while it measures.

/// Resident set size of this process in bytes (Linux `/proc/self/statm`).
#[cfg(target_os = "linux")]
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("resident pages");
    pages * 4096
}

#[cfg(target_os = "linux")]
#[test]
fn thousands_of_jit_vm_lifetimes_keep_memory_flat() {
    // main and one function, both compiled.
    let bytes = mdvm_tests::assemble_bytes(
        "
.module lifetimes
        LOAD_CONST_R r0, str \"twice\"
        LOAD_CONST_R r1, int 21
        CALL_R r0, r2, r1
        DEBUG_PRINT r2
        RETURN_R

.func twice
        ADD_R r1, r0, r0
        RETURN_R r1
",
    );
    let expected = b"42\n".to_vec();
    let lifetime = || {
        let mut vm = mdvm::Vm::builder().tier(mdvm::Tier::Jit).load_bytes(&bytes).expect("loads");
        let o = vm.run_captured();
        assert_eq!(o.output, expected);
        let jit = vm.stats().jit.expect("the compiled tier is attached");
        assert!(jit.compiled.functions_compiled > 0, "code was compiled");
    };
    // Warm up: allocator pools, lazily initialised state.
    for _ in 0..100 {
        lifetime();
    }
    let before = rss_bytes();
    const LIFETIMES: u64 = 5_000;
    for _ in 0..LIFETIMES {
        lifetime();
    }
    let grown = rss_bytes().saturating_sub(before);
    // Leaking the code would grow by tens of KB per VM (tens of MB here); allow allocator
    // noise of a few bytes per VM.
    assert!(grown < 8 * 1024 * 1024, "RSS grew by {grown} bytes over {LIFETIMES} VM lifetimes ({} per VM)", grown / LIFETIMES);
}
