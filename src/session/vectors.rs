//! The seaweedfs-sts.md §10 test vectors shared by the session and sigv4 unit tests.

use serde_json::json;

use super::claims::SessionClaims;
use super::key::SigningKey;

pub const KEY_BASE64: &str = "dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc=";
pub const SID: &str = "0123456789abcdef0123456789abcdef";
pub const PUID: &str = "VRgs2JdrrVqWdL8mLdBpbI2CX94plJHnHmN20RasL-Y";
pub const ISSUER: &str = "seaweedfs-sts";
/// 2026-01-01T00:30:00Z, inside the vector token's lifetime.
pub const NOW: i64 = 1_767_227_400;
pub const IAT: i64 = 1_767_225_600;
pub const EXP: i64 = 1_767_229_200;

pub const VECTOR_PAYLOAD: &str = r#"{"iss":"seaweedfs-sts","sub":"0123456789abcdef0123456789abcdef","exp":1767229200,"nbf":1767225600,"iat":1767225600,"jti":"0123456789abcdef0123456789abcdef","sid":"0123456789abcdef0123456789abcdef","snam":"alice-session","typ":"session","role":"arn:aws:iam::role/TestReadOnlyRole","assumed":"arn:aws:sts::assumed-role/TestReadOnlyRole/alice-session","principal":"arn:aws:sts::assumed-role/TestReadOnlyRole/alice-session","idp":"keycloak","ext_uid":"alice","prov_iss":"http://localhost:8080/realms/seaweedfs-test","req_ctx":{"aws:userid":"VRgs2JdrrVqWdL8mLdBpbI2CX94plJHnHmN20RasL-Y","email":"alice@example.com","sub":"alice"},"assumed_at":"2026-01-01T00:00:00Z","max_dur":3600,"puid":"VRgs2JdrrVqWdL8mLdBpbI2CX94plJHnHmN20RasL-Y"}"#;

pub const VECTOR_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzZWF3ZWVkZnMtc3RzIiwic3ViIjoiMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYiLCJleHAiOjE3NjcyMjkyMDAsIm5iZiI6MTc2NzIyNTYwMCwiaWF0IjoxNzY3MjI1NjAwLCJqdGkiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiIsInNpZCI6IjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmIiwic25hbSI6ImFsaWNlLXNlc3Npb24iLCJ0eXAiOiJzZXNzaW9uIiwicm9sZSI6ImFybjphd3M6aWFtOjpyb2xlL1Rlc3RSZWFkT25seVJvbGUiLCJhc3N1bWVkIjoiYXJuOmF3czpzdHM6OmFzc3VtZWQtcm9sZS9UZXN0UmVhZE9ubHlSb2xlL2FsaWNlLXNlc3Npb24iLCJwcmluY2lwYWwiOiJhcm46YXdzOnN0czo6YXNzdW1lZC1yb2xlL1Rlc3RSZWFkT25seVJvbGUvYWxpY2Utc2Vzc2lvbiIsImlkcCI6ImtleWNsb2FrIiwiZXh0X3VpZCI6ImFsaWNlIiwicHJvdl9pc3MiOiJodHRwOi8vbG9jYWxob3N0OjgwODAvcmVhbG1zL3NlYXdlZWRmcy10ZXN0IiwicmVxX2N0eCI6eyJhd3M6dXNlcmlkIjoiVlJnczJKZHJyVnFXZEw4bUxkQnBiSTJDWDk0cGxKSG5IbU4yMFJhc0wtWSIsImVtYWlsIjoiYWxpY2VAZXhhbXBsZS5jb20iLCJzdWIiOiJhbGljZSJ9LCJhc3N1bWVkX2F0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJtYXhfZHVyIjozNjAwLCJwdWlkIjoiVlJnczJKZHJyVnFXZEw4bUxkQnBiSTJDWDk0cGxKSG5IbU4yMFJhc0wtWSJ9.zaed-hXUWpN8PKyRr_kQ1l2QgjzOIA60HHBd9ngO8vo";

pub fn vector_key() -> SigningKey {
    SigningKey::from_base64(KEY_BASE64).expect("the §10.1 key decodes")
}

/// The claims of seaweedfs-sts.md §10.3.
pub fn vector_claims() -> SessionClaims {
    let mut c = SessionClaims::new(ISSUER, SID, IAT, EXP);
    c.snam = "alice-session".into();
    c.role = "arn:aws:iam::role/TestReadOnlyRole".into();
    c.assumed = "arn:aws:sts::assumed-role/TestReadOnlyRole/alice-session".into();
    c.principal = c.assumed.clone();
    c.idp = "keycloak".into();
    c.ext_uid = "alice".into();
    c.prov_iss = "http://localhost:8080/realms/seaweedfs-test".into();
    c.req_ctx.insert("sub".into(), json!("alice"));
    c.req_ctx.insert("email".into(), json!("alice@example.com"));
    c.req_ctx.insert("aws:userid".into(), json!(PUID));
    c.max_dur = Some(3600);
    c.puid = PUID.into();
    c
}
