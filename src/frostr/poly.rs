//! Polynomial helpers shared by signing, ECDH and recovery.

use k256::Scalar;

/// Lagrange coefficient at x = 0 of member `idx` over the set `members`:
/// λ_i = Π_{j≠i} j / (j − i) mod n.
///
/// Returns `None` when the set has any duplicate index or a zero index (the product would be
/// undefined); `idx` need not be in `members` (bifrost's `@cmdcode/frost` 1.1.3 behaviour),
/// callers that require membership check it themselves.
pub fn lagrange_at_zero(idx: u32, members: &[u32]) -> Option<Scalar> {
    // A repeated index anywhere makes the set meaningless (the interpolation would be
    // silently wrong), so reject it up front.
    let mut sorted = members.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    let xi = Scalar::from(u64::from(idx));
    let mut num = Scalar::ONE;
    let mut den = Scalar::ONE;
    for &j in members {
        if j == idx {
            continue;
        }
        if j == 0 {
            return None;
        }
        let xj = Scalar::from(u64::from(j));
        num *= xj;
        den *= xj - xi;
    }
    let inv = Option::<Scalar>::from(den.invert())?;
    if bool::from(inv.is_zero()) {
        return None;
    }
    Some(num * inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_of_three_coefficients() {
        // λ_1 over {1,2} = 2/(2-1) = 2; λ_2 = 1/(1-2) = -1.
        assert_eq!(lagrange_at_zero(1, &[1, 2]), Some(Scalar::from(2u64)));
        assert_eq!(lagrange_at_zero(2, &[1, 2]), Some(-Scalar::ONE));
        assert_eq!(lagrange_at_zero(1, &[1, 1, 2]), None);
        assert_eq!(lagrange_at_zero(1, &[1, 2, 2]), None);
        assert_eq!(lagrange_at_zero(1, &[0, 2]), None);
    }
}
