//! Thin wrappers over the Workers runtime: clock, randomness, ids, and WebCrypto PBKDF2 and AES-GCM
//! (<https://developers.cloudflare.com/workers/runtime-apis/web-crypto/>).

use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use wasm_bindgen::{JsCast, JsValue};

/// Now, from the runtime clock (`Date.now()`; in Workers it advances only across I/O).
pub fn now() -> DateTime<Utc> {
    crate::domain::time::from_millis(now_ms())
}

/// Now as Unix milliseconds.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// `N` random bytes from `crypto.getRandomValues`; an [`AppError::Internal`] if the runtime refuses.
pub fn random_bytes<const N: usize>() -> AppResult<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| AppError::Internal(format!("getrandom: {e}")))?;
    Ok(b)
}

/// A random (v4) UUID, hyphenated lower-case.
pub fn uuid() -> AppResult<String> {
    Ok(uuid::Builder::from_random_bytes(random_bytes::<16>()?)
        .into_uuid()
        .hyphenated()
        .to_string())
}

fn js(e: JsValue) -> AppError {
    AppError::Internal(format!("WebCrypto: {e:?}"))
}

fn subtle() -> AppResult<web_sys::SubtleCrypto> {
    let crypto: web_sys::Crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    Ok(crypto.subtle())
}

/// PBKDF2-HMAC-SHA256 through WebCrypto `deriveBits`, 32 bytes out. Workers cap `iterations` at 100 000.
pub async fn pbkdf2_sha256(password: &str, salt: &[u8], iterations: u32) -> AppResult<Vec<u8>> {
    let subtle = subtle()?;
    let usages = js_sys::Array::of1(&"deriveBits".into());
    let key = subtle
        .import_key_with_str(
            "raw",
            &js_sys::Uint8Array::from(password.as_bytes()),
            "PBKDF2",
            false,
            &usages,
        )
        .map_err(js)?;
    let key: web_sys::CryptoKey = wasm_bindgen_futures::JsFuture::from(key)
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    let params = js_sys::Object::new();
    for (k, v) in [
        ("name", JsValue::from_str("PBKDF2")),
        ("hash", JsValue::from_str("SHA-256")),
        ("salt", js_sys::Uint8Array::from(salt).into()),
        ("iterations", JsValue::from_f64(iterations as f64)),
    ] {
        js_sys::Reflect::set(&params, &k.into(), &v).map_err(js)?;
    }
    let bits = subtle
        .derive_bits_with_object(&params, &key, 256)
        .map_err(js)?;
    let bits = wasm_bindgen_futures::JsFuture::from(bits)
        .await
        .map_err(js)?;
    Ok(js_sys::Uint8Array::new(&bits).to_vec())
}

async fn aes_key(key: &[u8; 32], usage: &str) -> AppResult<web_sys::CryptoKey> {
    let usages = js_sys::Array::of1(&usage.into());
    let p = subtle()?
        .import_key_with_str(
            "raw",
            &js_sys::Uint8Array::from(&key[..]),
            "AES-GCM",
            false,
            &usages,
        )
        .map_err(js)?;
    wasm_bindgen_futures::JsFuture::from(p)
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)
}

fn gcm_params(nonce: &[u8]) -> AppResult<js_sys::Object> {
    let params = js_sys::Object::new();
    js_sys::Reflect::set(&params, &"name".into(), &"AES-GCM".into()).map_err(js)?;
    js_sys::Reflect::set(
        &params,
        &"iv".into(),
        &js_sys::Uint8Array::from(nonce).into(),
    )
    .map_err(js)?;
    Ok(params)
}

/// AES-256-GCM encryption through WebCrypto with a fresh 12-byte nonce: returns nonce ‖ ciphertext ‖ 16-byte tag.
pub async fn aes_gcm_encrypt(key: &[u8; 32], plaintext: &[u8]) -> AppResult<Vec<u8>> {
    let nonce = random_bytes::<12>()?;
    let k = aes_key(key, "encrypt").await?;
    let p = subtle()?
        .encrypt_with_object_and_u8_array(&gcm_params(&nonce)?, &k, plaintext)
        .map_err(js)?;
    let out = wasm_bindgen_futures::JsFuture::from(p).await.map_err(js)?;
    let mut sealed = nonce.to_vec();
    sealed.extend(js_sys::Uint8Array::new(&out).to_vec());
    Ok(sealed)
}

/// Opens what [`aes_gcm_encrypt`] sealed; an [`AppError::Internal`] when the key is wrong or the data altered.
pub async fn aes_gcm_decrypt(key: &[u8; 32], sealed: &[u8]) -> AppResult<Vec<u8>> {
    if sealed.len() < 12 + 16 {
        return Err(AppError::Internal("sealed secret too short".into()));
    }
    let (nonce, body) = sealed.split_at(12);
    let k = aes_key(key, "decrypt").await?;
    let p = subtle()?
        .decrypt_with_object_and_u8_array(&gcm_params(nonce)?, &k, body)
        .map_err(js)?;
    let out = wasm_bindgen_futures::JsFuture::from(p).await.map_err(|_| {
        AppError::Internal(
            "a stored secret could not be decrypted (wrong CS_ENCRYPTION_KEY?)".into(),
        )
    })?;
    Ok(js_sys::Uint8Array::new(&out).to_vec())
}
