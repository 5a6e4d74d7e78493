//! The OpenAPI 3.1 document of the JSON routes (`GET /v1/openapi.json`), derived at
//! start-up from the same file descriptor set reflection serves — so its schemas are the
//! proto's messages under their JSON names and cannot drift from them.
//!
//! Types follow the proto3 JSON mapping: 32-bit integers are `integer`, 64-bit ones
//! `string` (with their `format`), `float` is `number`, enums are their value names,
//! repeated fields arrays, messages `$ref`s to their schema.

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use serde_json::{json, Map, Value};

use crate::protocol as proto;

/// The JSON name of a field: protoc's `json_name`, else lowerCamelCase of its name.
fn json_name(field: &prost_types::FieldDescriptorProto) -> String {
    if let Some(name) = &field.json_name {
        return name.clone();
    }
    let mut out = String::new();
    let mut upper = false;
    for c in field.name().chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The schema of one field's value (not counting `repeated`).
fn value_schema(field: &prost_types::FieldDescriptorProto, enums: &Map<String, Value>) -> Value {
    let reference = |type_name: &str| type_name.trim_start_matches(".tasnif.v1.").to_string();
    match field.r#type() {
        Type::Double | Type::Float => json!({"type": "number"}),
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Type::Uint32 | Type::Fixed32 => {
            json!({"type": "integer", "format": "uint32", "minimum": 0})
        }
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => json!({"type": "string", "format": "int64"}),
        Type::Uint64 | Type::Fixed64 => json!({"type": "string", "format": "uint64"}),
        Type::Bool => json!({"type": "boolean"}),
        Type::String => json!({"type": "string"}),
        Type::Bytes => json!({"type": "string", "format": "byte"}),
        Type::Enum => enums
            .get(&reference(field.type_name()))
            .cloned()
            .unwrap_or_else(|| json!({"type": "string"})),
        Type::Message | Type::Group => {
            json!({"$ref": format!("#/components/schemas/{}", reference(field.type_name()))})
        }
    }
}

/// Schemas of a message and of the messages nested in it (named `Outer.Inner`).
fn message_schemas(
    prefix: &str,
    message: &DescriptorProto,
    enums: &Map<String, Value>,
    out: &mut Map<String, Value>,
) {
    let name = format!("{prefix}{}", message.name());
    let mut properties = Map::new();
    for field in &message.field {
        let mut schema = value_schema(field, enums);
        if field.label() == Label::Repeated {
            schema = json!({"type": "array", "items": schema});
        }
        properties.insert(json_name(field), schema);
    }
    out.insert(
        name.clone(),
        json!({"type": "object", "properties": properties}),
    );
    for nested in &message.nested_type {
        message_schemas(&format!("{name}."), nested, enums, out);
    }
}

fn enum_schema(e: &prost_types::EnumDescriptorProto) -> Value {
    let names: Vec<&str> = e.value.iter().map(|v| v.name()).collect();
    json!({"type": "string", "enum": names})
}

/// The document, as JSON text.
pub fn document() -> String {
    let set = FileDescriptorSet::decode(proto::FILE_DESCRIPTOR_SET)
        .expect("the build writes a valid descriptor set");
    let mut enums = Map::new();
    let mut schemas = Map::new();
    for file in &set.file {
        for e in &file.enum_type {
            enums.insert(e.name().to_string(), enum_schema(e));
        }
        for m in &file.message_type {
            for e in &m.enum_type {
                enums.insert(format!("{}.{}", m.name(), e.name()), enum_schema(e));
            }
        }
    }
    for file in &set.file {
        for m in &file.message_type {
            message_schemas("", m, &enums, &mut schemas);
        }
    }
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "properties": {
            "code": {"type": "integer", "description": "the gRPC status code (google.rpc.Code)"},
            "status": {"type": "string", "description": "its name, e.g. INVALID_ARGUMENT"},
            "message": {"type": "string"},
        }}),
    );
    schemas.insert(
        "Health".into(),
        json!({"type": "object", "properties": {
            "status": {"type": "string", "enum": ["SERVING", "NOT_SERVING", "UNKNOWN", "SERVICE_UNKNOWN"]},
        }}),
    );
    let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let json_body = |name: &str| json!({"content": {"application/json": {"schema": schema(name)}}});
    let errors = json!({
        "description": "the gRPC status, mapped to HTTP as Google's API design guide does",
        "content": {"application/json": {"schema": schema("Error")}},
    });
    let post = |summary: &str, request: &str, response: &str| {
        json!({"post": {
            "summary": summary,
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema(request)}}},
            "responses": {"200": json_body(response), "default": errors},
        }})
    };
    let health = |summary: &str| {
        json!({"get": {"summary": summary, "responses": {
            "200": json_body("Health"),
            "503": json_body("Health"),
        }}})
    };
    let bearer = json!({"bearer": {"type": "http", "scheme": "bearer",
        "description": "required on /v1/classify, /v1/classify:batch, /v1/vectorize and /v1/model when the server runs with --auth-token-file"}});
    let doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tasnif",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Topic classification of Arabic news (diplomacy, military, negotiations, other). Bodies are the proto3 canonical JSON of tasnif.v1 (proto/tasnif/v1/tasnif.proto); the same calls are served over gRPC and gRPC-Web on this port.",
        },
        "paths": {
            "/v1/classify": post("Classify one article (gRPC Classify)", "ClassifyRequest", "ClassifyResponse"),
            "/v1/classify:batch": post("Classify many articles (gRPC ClassifyBatch)", "ClassifyBatchRequest", "ClassifyBatchResponse"),
            "/v1/vectorize": post("The TF-IDF vector of a text (gRPC Vectorize)", "VectorizeRequest", "VectorizeResponse"),
            "/v1/model": {"get": {"summary": "The model and the server's limits (gRPC GetModelInfo)",
                "responses": {"200": json_body("ModelInfo"), "default": errors}}},
            "/healthz": health("Liveness: grpc.health.v1 Check of the server (\"\")"),
            "/readyz": health("Readiness: grpc.health.v1 Check of tasnif.v1.TopicClassifier"),
        },
        "components": {"schemas": schemas, "securitySchemes": bearer},
    });
    serde_json::to_string_pretty(&doc).expect("JSON values serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_the_protos_messages_under_their_json_names() {
        let doc: Value = serde_json::from_str(&document()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let response = &schemas["ClassifyResponse"]["properties"];
        assert_eq!(response["segmentCount"]["type"], "integer");
        assert_eq!(response["scores"]["type"], "array");
        assert_eq!(
            response["scores"]["items"]["$ref"],
            "#/components/schemas/LabelScore"
        );
        let limits = &schemas["Limits"]["properties"];
        assert_eq!(limits["maxRequestBytes"]["type"], "string");
        let include = &schemas["ClassifyRequest"]["properties"]["include"]["items"];
        assert!(include["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("INCLUDE_SEGMENTS")));
        // Every field of every message the JSON side answers is in the document, and
        // nothing else: compare with the canonical JSON of a fully populated message.
        let full = crate::protocol::ClassifyResponse {
            primary: "x".into(),
            scores: vec![Default::default()],
            topics: vec!["x".into()],
            id: "x".into(),
            coverage: Some(Default::default()),
            model_version: "x".into(),
            segments: vec![Default::default()],
            explanations: vec![Default::default()],
            truncated: true,
            characters: 1,
            segment_count: 1,
        };
        let v: Value = serde_json::from_str(&crate::protocol::to_json(&full)).unwrap();
        let mut sent: Vec<&String> = v.as_object().unwrap().keys().collect();
        let mut documented: Vec<&String> = response.as_object().unwrap().keys().collect();
        sent.sort();
        documented.sort();
        assert_eq!(sent, documented);
        assert!(doc["paths"]["/v1/classify"]["post"].is_object());
    }
}
