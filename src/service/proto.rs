//! Types and service traits generated from `proto/tasnif/v1/tasnif.proto`.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("tasnif.v1");

/// The encoded file descriptor set, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tasnif_descriptor");
