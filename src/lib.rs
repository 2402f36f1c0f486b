//! Edgedesk: an omnichannel customer-service back office on Cloudflare Workers.
pub mod domain;
