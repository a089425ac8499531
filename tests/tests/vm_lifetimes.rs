//! Compiled code is freed with its VM: creating, running and dropping many VMs with the
//! compiled tier keeps the process's mappings flat (they grew by two pages per VM, and the
//! resident set by about 38 KB per VM for larger programs, when code was never freed). One
//! test in its own binary, so no other test's allocations share the process while it measures.

/// Bytes of address space this process has mapped: the sum of the ranges in
/// `/proc/self/maps`. Compiled code lives in mappings of its own (cranelift-jit maps its code
/// memory), so code that is never freed shows here; under qemu-user the file shows the emulated
/// program's own mappings (the emulator's translated code, which the resident set would
/// include, is left out), so the measure holds natively and under emulation alike.
#[cfg(target_os = "linux")]
fn mapped_bytes() -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    maps.lines()
        .filter_map(|l| {
            let (a, b) = l.split_whitespace().next()?.split_once('-')?;
            Some(usize::from_str_radix(b, 16).ok()? - usize::from_str_radix(a, 16).ok()?)
        })
        .sum()
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
    let before = mapped_bytes();
    const LIFETIMES: usize = 1_000;
    for _ in 0..LIFETIMES {
        lifetime();
    }
    let grown = mapped_bytes().saturating_sub(before);
    // Leaking the code grows the mappings by two pages per VM (8 MB here).
    assert!(grown < 1024 * 1024, "the mappings grew by {grown} bytes over {LIFETIMES} VM lifetimes ({} per VM)", grown / LIFETIMES);
}
