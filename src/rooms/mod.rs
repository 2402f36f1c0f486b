//! Durable Objects. [`hub::TenantHub`]: one per tenant, relaying live dashboard updates and presence.

// `#[durable_object]` generates undocumented wasm-bindgen glue (`fetch`, `webSocketMessage`, …) in this module.
#[allow(missing_docs)]
pub mod hub;
