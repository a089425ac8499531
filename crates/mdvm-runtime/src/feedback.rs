//! Feedback the interpreter records for the compiled tier.
//!
//! Side tables indexed by internal code index ([`crate::program::Program::code`]) and by body.
//! Call counts are always kept (they are cheap and `--stats` reports them); per-site types and
//! back-edge counts only while profiling is on (the interpreter loop is instantiated twice, so
//! with profiling off they cost nothing).

use crate::program::Program;
use crate::value::Tag;

/// A set of value tags, one bit per [`Tag`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypeMask(pub u16);

impl TypeMask {
    /// The empty set.
    pub const NONE: TypeMask = TypeMask(0);

    /// The set holding only `t`.
    pub fn only(t: Tag) -> TypeMask {
        TypeMask(1 << t as u16)
    }

    /// True if `t` was seen.
    pub fn contains(self, t: Tag) -> bool {
        self.0 & (1 << t as u16) != 0
    }

    /// The single tag seen, if exactly one was.
    pub fn monomorphic(self) -> Option<Tag> {
        if self.0.count_ones() == 1 {
            Tag::from_u8(self.0.trailing_zeros() as u8)
        } else {
            None
        }
    }
}

/// Bit set in [`SiteTypes::out`] of an `ARRAY_GET_R` site that read an array holding its
/// elements as values rather than packed ([`crate::array`]); above every tag's bit, so masks
/// of tags are `out & !VALUES_ARRAY`.
pub const VALUES_ARRAY: u16 = 1 << 15;

/// Types seen at one site: first operand, second operand, result (where recorded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SiteTypes {
    /// Tags of the first operand (`a`, `src`, `cond`, `arr`).
    pub a: u16,
    /// Tags of the second operand (`b`, `idx`).
    pub b: u16,
    /// Tags of the result (`ARRAY_GET_R`, `DICT_GET_R`); for `ARRAY_GET_R` also [`VALUES_ARRAY`];
    /// for `ARRAY_SET_R`, of the value written.
    pub out: u16,
}

/// All feedback of one machine.
#[derive(Clone, Debug)]
pub struct Feedback {
    /// Whether per-site types and back-edges are being recorded.
    pub profiling: bool,
    /// Calls per body (`[0]` is the main program, counted once per run).
    pub call_counts: Vec<u64>,
    /// Taken backward jumps per target (loop header), by internal code index.
    pub backedges: Vec<u32>,
    /// Types seen per site, by internal code index.
    pub site_types: Vec<SiteTypes>,
    /// Tags of the arguments each body was entered with, per parameter register (bit masks of
    /// [`Tag`]s), recorded at interpreted call sites.
    pub entry_types: Vec<Vec<u16>>,
}

impl Feedback {
    /// Empty feedback for `program`.
    pub fn new(program: &Program) -> Feedback {
        Feedback {
            profiling: false,
            call_counts: vec![0; program.bodies.len()],
            backedges: vec![0; program.code.len()],
            site_types: vec![SiteTypes::default(); program.code.len()],
            entry_types: program.bodies.iter().map(|b| vec![0; b.nregs as usize]).collect(),
        }
    }
}
