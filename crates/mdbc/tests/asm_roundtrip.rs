//! The assembler and the disassembler: corpus round trips, the corpus' own assembly, error
//! reporting, and robustness on random input.

use std::path::PathBuf;

use mdbc::operand::OperandSource;
use mdbc::{assemble, disassemble, AsmError, Constant, Function, Instr, Module, Opcode};
use proptest::prelude::*;

fn corpus_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")
}

fn corpus_files(dirs: &[&str], ext: &str) -> Vec<PathBuf> {
    let root = corpus_root();
    let mut files = Vec::new();
    for dir in dirs {
        for e in std::fs::read_dir(root.join(dir)).expect("corpus folder") {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == ext) {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// `assemble(disassemble(m))` encodes to `m.encode()`; returns the text for diagnostics.
fn check_roundtrip(m: &Module) -> Result<(), String> {
    let text = disassemble(m);
    let back = assemble(&text).map_err(|e| format!("{e}\n--- text ---\n{text}"))?;
    if back.encode() != m.encode() {
        return Err(format!("bytes differ\n--- text ---\n{text}"));
    }
    Ok(())
}

#[test]
fn corpus_files_roundtrip_through_text() {
    let files = corpus_files(&["", "asm", "bench", "bench-asm"], "mdbc");
    assert!(files.len() >= 90, "found only {} corpus files", files.len());
    for p in files {
        let bytes = std::fs::read(&p).unwrap();
        let m = Module::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let text = disassemble(&m);
        let back = assemble(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", p.display()));
        assert!(back.encode() == bytes, "{}: bytes differ after text round trip\n{text}", p.display());
        // Decoding the reassembled bytes gives the same module (entries, offsets included).
        assert_eq!(Module::decode(&back.encode()).unwrap(), m, "{}", p.display());
    }
}

#[test]
fn corpus_assembly_matches_corpus_bytecode() {
    let files = corpus_files(&["asm", "bench-asm"], "mdasm");
    assert!(files.len() >= 10, "found only {} .mdasm files", files.len());
    for p in files {
        let src = std::fs::read_to_string(&p).unwrap();
        let want = std::fs::read(p.with_extension("mdbc")).unwrap();
        let m = assemble(&src).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(m.encode() == want, "{}: assembled bytes differ from the .mdbc beside it", p.display());
        mdbc::verify(&m).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}

#[test]
fn dict_workload_entry_is_the_serializer_count() {
    let src = std::fs::read_to_string(corpus_root().join("asm/dict_workload.mdasm")).unwrap();
    let m = assemble(&src).unwrap();
    let f = &m.functions[0];
    assert_eq!(f.name, "delta");
    assert!(f.stored_entry > f.entry, "stored {} entry {}", f.stored_entry, f.entry);
    let text = disassemble(&m);
    assert!(!text.contains(".stored") && !text.contains(".const") && !text.contains(".count"), "{text}");
}

fn asm_err(src: &str) -> AsmError {
    match assemble(src) {
        Ok(m) => panic!("assembled without error: {m:?}"),
        Err(e) => e,
    }
}

#[test]
fn error_unknown_mnemonic() {
    let e = asm_err("NOP\n; c\n  FROB r1, r2\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("unknown mnemonic `FROB`"), "{}", e.message);
}

#[test]
fn error_undefined_label() {
    let e = asm_err("top: NOP\nJUMP_R top\nJUMP_IF_R r0, nowhere\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("undefined label `nowhere`"), "{}", e.message);
    let e = asm_err("PHI_R r1, r0@missing\n");
    assert_eq!(e.line, 1);
    assert!(e.message.contains("undefined label `missing`"), "{}", e.message);
}

#[test]
fn error_duplicate_label() {
    let e = asm_err("a: NOP\nb:\na: HALT\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("duplicate label `a`") && e.message.contains("line 1"), "{}", e.message);
}

#[test]
fn error_bad_register() {
    let e = asm_err("NOP\nMOVE_R r1, r256\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("r256") && e.message.contains("out of range"), "{}", e.message);
    let e = asm_err("MOVE_R x1, r2\n");
    assert_eq!(e.line, 1);
    assert!(e.message.contains("bad register `x1`"), "{}", e.message);
}

#[test]
fn error_operand_counts() {
    let e = asm_err("\n\nADD_R r1, r2\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("too few operands for ADD_R"), "{}", e.message);
    assert!(e.message.contains("ADD_R dst, a, b"), "{}", e.message);
    let e = asm_err("NEG_R r1, r2, r3\n");
    assert_eq!(e.line, 1);
    assert!(e.message.contains("too many operands for NEG_R"), "{}", e.message);
    let e = asm_err("ADD_R r1, , r2\n");
    assert!(e.message.contains("empty"), "{}", e.message);
}

#[test]
fn error_unterminated_string() {
    let e = asm_err("NOP\nLOAD_CONST_R r0, str \"abc ; not a comment\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("unterminated string"), "{}", e.message);
}

#[test]
fn error_integer_out_of_range_and_others() {
    let e = asm_err("LOAD_CONST_R r0, int 9223372036854775808\n");
    assert!(e.message.contains("out of range"), "{}", e.message);
    let e = asm_err("SCOPE_ENTER_R 65536\n");
    assert!(e.message.contains("out of range"), "{}", e.message);
    let e = asm_err("JUMP_R 3\n");
    assert!(e.message.contains("needs a sign"), "{}", e.message);
    let e = asm_err(".bogus 1\n");
    assert!(e.message.contains("unknown directive"), "{}", e.message);
    let e = asm_err(".func f\nNOP\n.func f\nNOP\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("already declared"), "{}", e.message);
    let e = asm_err("CAST_R r0, r1, integer\n");
    assert!(e.message.contains("expected a type"), "{}", e.message);
    let e = asm_err("LOAD_CONST_R r0, 5\n");
    assert!(e.message.contains("expected a constant"), "{}", e.message);
    let e = asm_err("ASSERT_R r0, 3, str \"m\"\n");
    assert!(e.message.contains("out of range"), "{}", e.message);
    let e = asm_err(".func\n");
    assert!(e.message.contains("missing name"), "{}", e.message);
}

#[test]
fn full_syntax() {
    let src = r#"
# a comment
.module demo module
        LOAD_CONST_R r0, int -9223372036854775808   ; i64::MIN
        LOAD_CONST_R r1, float 2.5
        LOAD_CONST_R r2, float 0x3ff0000000000000
        LOAD_CONST_R r3, str "a;b#\"c\"\\\n\t\r\0\u{20ac}"
        LOAD_CONST_R r4, bool true
        LOAD_CONST_R r5, empty
        LOAD_CONST_R r6, float 1.0      ; same bits as 0x3ff0...: reused
        LOAD_CONST_R r7, k1
        LOAD_CONST_R r8, float -inf
        LOAD_CONST_R r9, float nan
        CAST_R r9, r0, float
        CHECK_TYPE_R r9, r0, 255
        DEFINE_R r9, unknown
pre:    JUMP_IF_NOT_R r4, +1
head:   PHI_R r10, r0@pre, r1@7, r2@head
        ASSERT_R r3, 0, str "message"
        ASSERT_R r3, 2, str "msg", -5, 10
        SCOPE_ENTER_R 3
        SCOPE_EXIT_R 3
        LOAD_GLOBAL_R r11, str "g"
        CALL_R r11, r12, r0, r1, r2
        CALL_R r11, r12
        jump_r end
.func my function
        RETURN_R r0
.func other
end:    RETURN_R
"#;
    let m = assemble(src).unwrap();
    assert_eq!(m.name, "demo module");
    assert_eq!(
        m.constants[..4],
        [
            Constant::Int(i64::MIN),
            Constant::Float(2.5),
            Constant::Float(1.0),
            Constant::Str("a;b#\"c\"\\\n\t\r\0€".into())
        ]
    );
    assert_eq!(
        m.constants[4..],
        [
            Constant::Bool(true),
            Constant::Empty,
            Constant::Float(f64::NEG_INFINITY),
            Constant::Float(f64::NAN),
            Constant::Str("message".into()),
            Constant::Str("msg".into()),
            Constant::Str("g".into()),
        ]
    );
    assert_eq!(m.code.len(), 25);
    assert!(matches!(m.code[6], Instr::LoadConstR { k: mdbc::operand::Const(2), .. }));
    assert!(matches!(m.code[7], Instr::LoadConstR { k: mdbc::operand::Const(1), .. }));
    assert_eq!(m.code[13].jump_offset(), Some(1));
    assert_eq!(
        m.code[14],
        Instr::PhiR {
            dst: mdbc::operand::Dst(10),
            sources: mdbc::operand::PhiSources(vec![(0, 13), (1, 7), (2, 14)].into())
        }
    );
    assert_eq!(m.code[22].jump_offset(), Some(1));
    // CAST_R, CHECK_TYPE_R and DEFINE_R are miscounted by the serializer convention.
    let entries: Vec<(&str, u32)> = m.functions.iter().map(|f| (f.name.as_str(), f.entry)).collect();
    assert_eq!(entries, [("my function", 23), ("other", 24)]);
    assert!(m.functions[0].stored_entry > 23);
    let back = Module::decode(&m.encode()).unwrap();
    assert_eq!(back.functions, m.functions);
    check_roundtrip(&m).unwrap();
}

#[test]
fn default_name_and_empty_program() {
    let m = assemble("").unwrap();
    assert_eq!(m.name, mdbc::asm::DEFAULT_MODULE_NAME);
    assert!(m.code.is_empty());
    check_roundtrip(&m).unwrap();
    let m = assemble(".module \"\"\n.func \" odd;name\\n\"\n").unwrap();
    assert_eq!(m.name, "");
    assert_eq!(m.functions[0].name, " odd;name\n");
    assert_eq!(m.functions[0].entry, 0);
    check_roundtrip(&m).unwrap();
}

#[test]
fn odd_pools_roundtrip() {
    // Duplicates, unused entries, entries out of first-use order, out-of-range references.
    let base = assemble("LOAD_CONST_R r0, int 1\nLOAD_CONST_R r1, str \"x\"\nLOAD_GLOBAL_R r2, str \"x\"\n")
        .unwrap();
    let pools = [
        vec![Constant::Str("x".into()), Constant::Int(1)],
        vec![Constant::Int(1), Constant::Str("x".into()), Constant::Str("x".into())],
        vec![Constant::Int(1), Constant::Str("x".into()), Constant::Empty],
        vec![Constant::Empty, Constant::Int(1), Constant::Str("x".into())],
        vec![
            Constant::Float(-0.0),
            Constant::Float(0.0),
            Constant::Float(f64::from_bits(0x7ff8_0000_0000_0001)),
        ],
        vec![],
    ];
    for pool in pools {
        let mut m = base.clone();
        m.constants = pool;
        check_roundtrip(&m).unwrap();
    }
    // Operands naming other indices than first use would.
    let mut m = base.clone();
    m.constants.push(Constant::Str("x".into()));
    m.code[2] = Instr::LoadGlobalR { dst: mdbc::operand::Dst(2), name: mdbc::operand::Name(2) };
    m.code.push(Instr::LoadConstR { dst: mdbc::operand::Dst(3), k: mdbc::operand::Const(900) });
    check_roundtrip(&m).unwrap();
}

#[test]
fn header_fields_and_table_order_roundtrip() {
    let src = ".module m\nDICT_NEW_R r5\nNOP\n.func b\nNOP\n.func a\nRETURN_R\n.func c\n";
    let base = assemble(src).unwrap();
    assert_eq!(base.functions[0].stored_entry, 3); // DICT_NEW_R r5 counts as 2
    check_roundtrip(&base).unwrap();
    let mut m = base.clone();
    m.flags = 7;
    m.header_count = 9;
    m.functions.swap(0, 2);
    m.functions[1].stored_entry = 1; // maps to a different instruction than its entry
    m.functions.push(Function { name: "past the end".into(), entry: 10, stored_entry: 77 });
    let text = disassemble(&m);
    for d in [".flags 7", ".count 9", ".order", ".stored 1", ".stored 77"] {
        assert!(text.contains(d), "{d} missing:\n{text}");
    }
    check_roundtrip(&m).unwrap();
}

#[test]
fn jumps_outside_the_code_use_raw_offsets() {
    let m = assemble("JUMP_R +5\nJUMP_R -3\nJUMP_R +0\nPHI_R r0, r1@9, r2@2, r3@4\n").unwrap();
    let text = disassemble(&m);
    assert!(text.contains("JUMP_R +5") && text.contains("JUMP_R -3") && text.contains("r1@9"), "{text}");
    assert!(text.contains("JUMP_R L3") && text.contains("r2@L2") && text.contains("r3@L4"), "{text}");
    check_roundtrip(&m).unwrap();
}

#[test]
fn unrepresentable_entry_is_an_error() {
    // Bytes 4 0 2 0 | 40: the serializer takes DEFINE_R for one byte, then reads the register
    // byte 0 as a 4-byte LOAD_CONST_R, so the code before instruction 1 and the code before
    // instruction 2 both count 2: a function at instruction 2 cannot be written.
    let e = asm_err("DEFINE_R r0, int\nNOP\n.func f\nNOP\n");
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.contains("cannot be written"), "{}", e.message);
}

/// An [`OperandSource`] drawing operands from a list of random numbers.
struct RandomOperands<'a> {
    values: &'a [u64],
    pos: usize,
    more: usize,
}

impl RandomOperands<'_> {
    fn take(&mut self) -> u64 {
        let v = self.values.get(self.pos % self.values.len().max(1)).copied().unwrap_or(0);
        self.pos += 1;
        v.rotate_left(self.pos as u32)
    }
}

impl OperandSource for RandomOperands<'_> {
    fn reg(&mut self) -> Result<u8, String> {
        Ok(self.take() as u8)
    }
    fn constant(&mut self) -> Result<u16, String> {
        Ok((self.take() % 12) as u16)
    }
    fn type_id(&mut self) -> Result<u16, String> {
        Ok(self.take() as u16)
    }
    fn jump(&mut self) -> Result<i32, String> {
        Ok((self.take() % 41) as i32 - 20)
    }
    fn phi_source(&mut self) -> Result<(u8, u16), String> {
        Ok((self.take() as u8, (self.take() % 40) as u16))
    }
    fn uint(&mut self, max: u64) -> Result<u64, String> {
        Ok(self.take() % (max + 1))
    }
    fn int(&mut self) -> Result<i64, String> {
        Ok(self.take() as i64)
    }
    fn has_more(&mut self) -> bool {
        if self.more == 0 {
            return false;
        }
        self.more -= 1;
        true
    }
}

fn arb_constant() -> impl Strategy<Value = Constant> {
    prop_oneof![
        any::<i64>().prop_map(Constant::Int),
        prop_oneof![Just(0i64), Just(1), Just(-1)].prop_map(Constant::Int),
        any::<u64>().prop_map(|b| Constant::Float(f64::from_bits(b))),
        prop_oneof![Just(0.0f64), Just(-0.0), Just(f64::NAN), Just(f64::INFINITY), Just(1e300)]
            .prop_map(Constant::Float),
        any::<String>().prop_map(Constant::Str),
        "[a-c\"\\\\;#\n\r\t\0 ]{0,4}".prop_map(Constant::Str),
        any::<bool>().prop_map(Constant::Bool),
        Just(Constant::Empty),
    ]
}

fn arb_module() -> impl Strategy<Value = Module> {
    (
        any::<String>(),
        proptest::collection::vec(arb_constant(), 0..10),
        proptest::collection::vec((0u8..50, proptest::collection::vec(any::<u64>(), 1..4), 0usize..4), 0..40),
        proptest::collection::vec((any::<String>(), 0u32..45), 0..4),
        any::<bool>(),
    )
        .prop_map(|(name, constants, instrs, funcs, miscount)| {
            let code: Vec<Instr> = instrs
                .iter()
                .map(|(op, values, more)| {
                    let op = Opcode::from_u8(*op).unwrap();
                    let mut src = RandomOperands { values, pos: 0, more: *more };
                    Instr::parse_operands(op, &mut src).unwrap()
                })
                .collect();
            let mut functions: Vec<(String, u32)> = Vec::new();
            for (n, e) in funcs {
                if !functions.iter().any(|f| f.0 == n) {
                    functions.push((n, e % (code.len() as u32 + 1)));
                }
            }
            // Build gives serializer-count entries; fall back to raw entries when it refuses.
            let mut m = match Module::build(name.clone(), constants.clone(), functions.clone(), code.clone())
            {
                Ok(m) => m,
                Err(_) => Module::build(name, constants, Vec::new(), code).unwrap(),
            };
            if miscount {
                // The frontend's header count (equal to the real one unless miscounted).
                m.header_count = mdbc::repair::serializer_count(&m.code_bytes());
                m.flags = 0;
            }
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_text_never_panics(src in any::<String>()) {
        let _ = assemble(&src);
    }

    #[test]
    fn random_assembly_like_text_never_panics(
        lines in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    Just("LOAD_CONST_R".to_string()), Just("JUMP_R".to_string()), Just("PHI_R".to_string()),
                    Just("CALL_R".to_string()), Just("RETURN_R".to_string()), Just("ASSERT_R".to_string()),
                    Just("CAST_R".to_string()), Just(".func".to_string()), Just(".const".to_string()),
                    Just(".order".to_string()), Just(".stored".to_string()), Just(".count".to_string()),
                    Just("x:".to_string()), Just("r0".to_string()), Just("r255".to_string()), Just(",".to_string()),
                    Just("@x".to_string()), Just("int".to_string()), Just("float".to_string()),
                    Just("str".to_string()), Just("\"".to_string()), Just("\\u{".to_string()), Just("k9".to_string()),
                    Just("+3".to_string()), Just("-9999999999".to_string()), Just("0x".to_string()),
                    "[a-z0-9@;#:,.\"\\\\+-]{1,6}",
                ],
                0..8,
            ),
            0..12,
        )
    ) {
        let src: String = lines.iter().map(|l| l.join(" ") + "\n").collect();
        let _ = assemble(&src);
    }

    #[test]
    fn random_modules_roundtrip(m in arb_module()) {
        // Only what a file can hold: go through the bytes.
        let decoded = Module::decode(&m.encode());
        prop_assert!(decoded.is_ok(), "{:?}", decoded);
        if let Err(e) = check_roundtrip(&decoded.unwrap()) {
            prop_assert!(false, "{}", e);
        }
    }
}
