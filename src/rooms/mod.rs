//! Durable Objects. [`hub::TenantHub`]: one per tenant, relaying live dashboard updates and presence.
//! [`signaling::SignalingRoom`]: one per live chat or call, relaying chat and WebRTC signaling.

// `#[durable_object]` generates undocumented wasm-bindgen glue (`fetch`, `webSocketMessage`, …) in these modules.
#[allow(missing_docs)]
pub mod hub;
#[allow(missing_docs)]
pub mod signaling;
