//! [`V2Credentials`] ⇄ the sealed store record [`V2NodeCredentials`].

use zeroize::Zeroizing;

use super::import::{V2Credentials, V2Source};
use crate::frostr::SecretScalar;
use crate::frostr_v2::GroupPackage;
use crate::frostr_v2::hexser;
use crate::store::credentials::V2NodeCredentials;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored V2 credentials are damaged ({0})")]
pub struct RecordError(&'static str);

pub fn to_record(c: &V2Credentials, saved_at: u64) -> V2NodeCredentials {
    V2NodeCredentials {
        share_secret: hex::encode(c.share_secret.to_bytes().as_slice()),
        group_package: c.group.as_ref().map(GroupPackage::to_json),
        relays: c.relays.clone(),
        peer_pk: c.peer_pk.map(hex::encode),
        device_name: c.device_name.clone(),
        policy_overrides: if c.policy_overrides.is_empty() {
            None
        } else {
            serde_json::to_string(&c.policy_overrides).ok()
        },
        source: c.source.as_str().to_owned(),
        saved_at,
    }
}

pub fn from_record(r: &V2NodeCredentials) -> Result<V2Credentials, RecordError> {
    let bytes = hexser::parse::<32>(&r.share_secret)
        .map(Zeroizing::new)
        .ok_or(RecordError("share secret"))?;
    let share_secret = SecretScalar::from_bytes(&bytes).ok_or(RecordError("share secret"))?;
    let group = r
        .group_package
        .as_deref()
        .map(GroupPackage::from_json)
        .transpose()
        .map_err(|_| RecordError("group package"))?;
    let peer_pk = r
        .peer_pk
        .as_deref()
        .map(|p| hexser::parse::<32>(p).ok_or(RecordError("peer_pk")))
        .transpose()?;
    let policy_overrides = match &r.policy_overrides {
        Some(j) => serde_json::from_str(j).map_err(|_| RecordError("policy overrides"))?,
        None => Vec::new(),
    };
    let source = match r.source.as_str() {
        "migrate" => V2Source::Migrate,
        "bfshare" => V2Source::Bfshare,
        "bfonboard" => V2Source::Bfonboard,
        "bfprofile" => V2Source::Bfprofile,
        _ => return Err(RecordError("source")),
    };
    Ok(V2Credentials {
        share_secret,
        group,
        relays: r.relays.clone(),
        peer_pk,
        device_name: r.device_name.clone(),
        policy_overrides,
        source,
    })
}
