//! Argon2id password hashes (PHC strings, igloo-server's parameters, so its hashes verify
//! unchanged) and igloo-server's username and password rules.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// igloo-server (Bun.password): 64 MiB, 3 passes, 1 lane.
const M_KIB: u32 = 65_536;
const T: u32 = 3;

fn argon() -> Argon2<'static> {
    // The parameters are constants inside the accepted ranges.
    let params = Params::new(M_KIB, T, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password as an Argon2id PHC string. Blocking (about 64 MiB of work).
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Ok(argon()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Verifies a password against a PHC string (any Argon2 variant and parameters it names).
/// A malformed hash verifies as false. Blocking.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Burns the same time as a real verification, for unknown user names.
pub fn dummy_verify(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("igloo dummy password").unwrap_or_default());
    let _ = verify(password, phc);
}

/// Why a user name or password is refused: an error code (igloo-server's) and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub code: &'static str,
    pub message: String,
}

fn rule(code: &'static str, message: impl Into<String>) -> RuleError {
    RuleError {
        code,
        message: message.into(),
    }
}

/// User names: 3 to 50 characters after trimming, no control characters. Returns the trimmed
/// name.
pub fn validate_username(raw: &str) -> Result<String, RuleError> {
    let name = raw.trim();
    let n = name.chars().count();
    if !(3..=50).contains(&n) {
        return Err(rule(
            "invalid_username",
            "Username must be 3 to 50 characters long",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(rule(
            "invalid_username",
            "Username must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

/// igloo-server's password rules (reference §3.2).
pub fn validate_password(password: &str, username: &str) -> Result<(), RuleError> {
    let bad = |m: &str| Err(rule("invalid_password", m));
    let n = password.chars().count();
    if !(8..=128).contains(&n) {
        return bad("Password must be 8 to 128 characters long");
    }
    if password.chars().any(char::is_whitespace) {
        return bad("Password must not contain whitespace");
    }
    if !password.chars().any(|c| c.is_ascii_lowercase()) {
        return bad("Password must contain a lowercase letter");
    }
    if !password.chars().any(|c| c.is_ascii_uppercase()) {
        return bad("Password must contain an uppercase letter");
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        return bad("Password must contain a digit");
    }
    if !password.chars().any(|c| "@$!%*?&".contains(c)) {
        return bad("Password must contain one of @$!%*?&");
    }
    let chars: Vec<char> = password.chars().collect();
    for w in chars.windows(3) {
        let (a, b, c) = (w[0] as i64, w[1] as i64, w[2] as i64);
        if a == b && b == c {
            return bad("Password must not repeat a character three times in a row");
        }
        if (b - a == 1 && c - b == 1) || (a - b == 1 && b - c == 1) {
            return bad("Password must not contain three sequential characters (abc, 321)");
        }
    }
    let user = username.trim().to_lowercase();
    if !user.is_empty() {
        let pw = password.to_lowercase();
        if pw.contains(&user) || user.contains(&pw) || unleet(&pw).contains(&user) {
            return bad("Password must not contain the username");
        }
    }
    Ok(())
}

/// Undoes common leetspeak substitutions.
fn unleet(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '4' | '@' => 'a',
            '3' => 'e',
            '1' | '!' => 'i',
            '0' => 'o',
            '5' | '$' => 's',
            '7' => 't',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_wrong_passwords_do_not() {
        let h = hash("Str0ng!Pass").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=65536,t=3,p=1$"), "{h}");
        assert!(verify("Str0ng!Pass", &h));
        assert!(!verify("Str0ng!Pasx", &h));
        assert!(!verify("Str0ng!Pass", "not a hash"));
        dummy_verify("x");
    }

    #[test]
    fn igloo_server_style_hash_verifies() {
        // A PHC string as Bun.password writes it (argon2id, m=65536, t=3, p=1), made with
        // other parameters than ours to show that the string's own parameters are used.
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = Params::new(8192, 2, 1, Some(32)).unwrap();
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"Abc!9xyz", &salt)
            .unwrap()
            .to_string();
        assert!(other.starts_with("$argon2id$v=19$m=8192,t=2,p=1$"));
        assert!(verify("Abc!9xyz", &other));
    }

    #[test]
    fn username_rules() {
        assert_eq!(validate_username("  alice ").unwrap(), "alice");
        assert!(validate_username("al").is_err());
        assert!(validate_username(&"a".repeat(51)).is_err());
        assert!(validate_username("ali\u{7}ce").is_err());
    }

    #[test]
    fn password_rules() {
        assert!(validate_password("Str0ng!Pass", "alice").is_ok());
        for (pw, why) in [
            ("S0!a", "short"),
            ("str0ng!pass", "no upper"),
            ("STR0NG!PASS", "no lower"),
            ("Strong!Pass", "no digit"),
            ("Str0ngPass9", "no special"),
            ("Str0ng! Pass", "space"),
            ("Str0ng!Paaas", "repeat"),
            ("Str0ng!Pabc", "sequence"),
            ("Str0ng!Pcba", "descending"),
            ("Alice!9Pw", "contains user"),
            ("4l1c3!9Pw", "leet user"),
        ] {
            assert!(validate_password(pw, "alice").is_err(), "{why}: {pw}");
        }
        assert_eq!(
            validate_password("x", "alice").unwrap_err().code,
            "invalid_password"
        );
    }
}
