//! Rust bindings for the `printfarm:plugin` world, generated from `wit/` by wasmtime's `bindgen!`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: { default: async },
    exports: { default: async },
});

pub use self::exports::printfarm::plugin::http_handler::{
    Request as WitRequest, Response as WitResponse,
};
pub use self::printfarm::plugin::http_types::{Body as WitBody, FormField, UploadedFile};
pub use self::printfarm::plugin::types::{Header, HostError};
