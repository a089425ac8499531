//! Operator classification: the binary instructions, what each computes, and how
//! comparisons negate.

use mdbc::Instr;

/// The operation of a binary instruction (`ADD_R` .. `MOD_R`, `AND_R`, `OR_R`, `EQ_R` ..
/// `GTE_R`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    And,
    Or,
}

impl BinOp {
    /// True for the six comparisons (their result is a bool).
    pub fn is_compare(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge)
    }

    /// True for the operations whose result is always a bool: comparisons, `AND_R`, `OR_R`.
    pub fn gives_bool(self) -> bool {
        self.is_compare() || matches!(self, BinOp::And | BinOp::Or)
    }

    /// The ordering comparison that holds exactly where this one does not (`<` and `>=`, `<=`
    /// and `>`); `None` for other operations (on floats `==` and `!=` are not negations of
    /// each other's ordering, and arithmetic has no negation).
    pub fn negated(self) -> Option<BinOp> {
        Some(match self {
            BinOp::Lt => BinOp::Ge,
            BinOp::Le => BinOp::Gt,
            BinOp::Gt => BinOp::Le,
            BinOp::Ge => BinOp::Lt,
            _ => return None,
        })
    }
}

/// `(operation, dst, a, b)` of a binary instruction; `None` for any other instruction.
pub(crate) fn binop_of(ins: &Instr) -> Option<(BinOp, u8, u8, u8)> {
    Some(match ins {
        Instr::AddR { dst, a, b } => (BinOp::Add, dst.0, a.0, b.0),
        Instr::SubR { dst, a, b } => (BinOp::Sub, dst.0, a.0, b.0),
        Instr::MulR { dst, a, b } => (BinOp::Mul, dst.0, a.0, b.0),
        Instr::DivR { dst, a, b } => (BinOp::Div, dst.0, a.0, b.0),
        Instr::ModR { dst, a, b } => (BinOp::Mod, dst.0, a.0, b.0),
        Instr::EqR { dst, a, b } => (BinOp::Eq, dst.0, a.0, b.0),
        Instr::NeqR { dst, a, b } => (BinOp::Ne, dst.0, a.0, b.0),
        Instr::LtR { dst, a, b } => (BinOp::Lt, dst.0, a.0, b.0),
        Instr::GtR { dst, a, b } => (BinOp::Gt, dst.0, a.0, b.0),
        Instr::LteR { dst, a, b } => (BinOp::Le, dst.0, a.0, b.0),
        Instr::GteR { dst, a, b } => (BinOp::Ge, dst.0, a.0, b.0),
        Instr::AndR { dst, a, b } => (BinOp::And, dst.0, a.0, b.0),
        Instr::OrR { dst, a, b } => (BinOp::Or, dst.0, a.0, b.0),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdbc::operand::{Dst, Src};

    #[test]
    fn binary_instructions_and_their_operands() {
        let lt = Instr::LtR { dst: Dst(3), a: Src(1), b: Src(2) };
        assert_eq!(binop_of(&lt), Some((BinOp::Lt, 3, 1, 2)));
        assert_eq!(binop_of(&Instr::NegR { dst: Dst(0), src: Src(1) }), None);
        assert!(BinOp::Le.is_compare() && !BinOp::And.is_compare() && BinOp::And.gives_bool());
        assert!(!BinOp::Add.gives_bool());
    }

    #[test]
    fn negation_swaps_strict_and_non_strict_orderings() {
        for (op, neg) in [(BinOp::Lt, BinOp::Ge), (BinOp::Le, BinOp::Gt)] {
            assert_eq!(op.negated(), Some(neg));
            assert_eq!(neg.negated(), Some(op));
        }
        assert_eq!(BinOp::Eq.negated(), None);
        assert_eq!(BinOp::Add.negated(), None);
    }
}
