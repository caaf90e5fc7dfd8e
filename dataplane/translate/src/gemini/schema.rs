//! JSON Schema → the OpenAPI subset Gemini's `Schema` accepts (tool parameters and
//! `response_format.json_schema`).

use serde_json::{Map, Value};

use crate::TranslateError;

/// Deepest nesting of a schema during reduction: every `properties`, `items`, `anyOf` or
/// `allOf` level and every `$ref` followed counts one. Deeper is a 400 rather than a
/// silently truncated schema (and keeps a chain of `$ref`s off the stack).
pub const SCHEMA_MAX_DEPTH: usize = 32;

/// Output budget for schema reduction, per request (every tool's `parameters` and the
/// `response_format` schema together), in estimated bytes of the JSON the reduced schemas
/// serialize to (keys, strings, numbers, punctuation; [`NODE_BYTES`] per object).
///
/// Without `$ref`s reduction only drops or renames keywords, so the output is never much
/// larger than the input; the budget is this constant **plus twice** the input schemas'
/// own estimate ([`json_size`]): any schema that needs no inlining fits, and inlining may
/// add at most 256 KiB. A schema whose `$defs` fan out through `anyOf` `$ref`s (2 KB of
/// input that would inline to GiBs) is stopped with a 400 as soon as the budget runs out,
/// after at most about that much work (~16,000 objects, ~10 MiB of `Value` nodes).
pub const SCHEMA_INLINE_BUDGET_BYTES: usize = 256 * 1024;

/// Bytes charged per schema object: about a small object's serialized size
/// (`{"type":"STRING"}`), so that a flood of empty objects runs out as fast as real ones.
const NODE_BYTES: usize = 16;

/// What reduction of one request's schemas may still produce, in estimated output bytes.
#[derive(Debug)]
pub(super) struct SchemaBudget {
    left: usize,
}

impl SchemaBudget {
    /// [`SCHEMA_INLINE_BUDGET_BYTES`] plus twice `input_bytes` (the [`json_size`] of the
    /// schemas as given).
    pub(crate) fn new(input_bytes: usize) -> Self {
        Self {
            left: SCHEMA_INLINE_BUDGET_BYTES.saturating_add(input_bytes.saturating_mul(2)),
        }
    }

    /// Charge `bytes`; `false` once the budget is spent.
    fn charge(&mut self, bytes: usize) -> bool {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                true
            }
            None => {
                self.left = 0;
                false
            }
        }
    }
}

/// Estimated serialized size of `v`, counting [`NODE_BYTES`] per object as the budget
/// does (exact for strings without escapes; an estimate is enough for a budget).
pub(super) fn json_size(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(_) => 5,
        Value::Number(_) => 8,
        Value::String(s) => s.len().saturating_add(2),
        Value::Array(items) => items.iter().fold(2usize, |n, item| {
            n.saturating_add(json_size(item)).saturating_add(1)
        }),
        Value::Object(map) => map.iter().fold(NODE_BYTES, |n, (k, item)| {
            n.saturating_add(k.len())
                .saturating_add(4)
                .saturating_add(json_size(item))
        }),
    }
}

/// Why a schema could not be reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemaFault {
    /// A `$ref` leads back to a definition being inlined.
    Cycle,
    /// Nested deeper than [`SCHEMA_MAX_DEPTH`] after inlining.
    TooDeep,
    /// The output budget ran out.
    TooLarge,
}

/// Reduce a JSON Schema to the subset Gemini's `Schema` object accepts (see module docs).
///
/// `param` names the schema in the error (`tools[0].function.parameters`). Local `$ref`s
/// are inlined within the budget of [`SCHEMA_INLINE_BUDGET_BYTES`] plus twice the input;
/// a `$ref` cycle, nesting beyond [`SCHEMA_MAX_DEPTH`] or a schema that would exceed the
/// budget is a 400 `invalid_request_error` naming `param`.
pub fn schema(json_schema: &Value, param: &str) -> Result<Value, TranslateError> {
    let param: &dyn std::fmt::Display = &param;
    let mut budget = SchemaBudget::new(json_size(json_schema));
    reduce_schema(json_schema, param, &mut budget)
}

/// [`schema`] drawing on a budget shared by all of one request's schemas.
pub(super) fn reduce_schema(
    json_schema: &Value,
    param: &dyn std::fmt::Display,
    budget: &mut SchemaBudget,
) -> Result<Value, TranslateError> {
    let defs = json_schema
        .get("$defs")
        .or_else(|| json_schema.get("definitions"));
    let mut walk = SchemaWalk {
        defs,
        budget,
        expanding: Vec::new(),
    };
    walk.convert(json_schema, 0).map_err(|fault| {
        let message = match fault {
            SchemaFault::Cycle => "JSON schema has a recursive $ref, which Gemini cannot express \
                                   (Gemini schemas have no references, so every $ref is inlined)"
                .to_owned(),
            SchemaFault::TooDeep => format!(
                "JSON schema is nested deeper than {SCHEMA_MAX_DEPTH} levels once its $refs are inlined"
            ),
            SchemaFault::TooLarge => format!(
                "JSON schema is too large once its $refs are inlined for Gemini (budget: \
                 twice the schemas as sent plus {} KiB)",
                SCHEMA_INLINE_BUDGET_BYTES / 1024
            ),
        };
        TranslateError::new(message, param.to_string())
    })
}

/// One schema's reduction: its definitions, the shared budget, and the definitions being
/// inlined right now (a `$ref` to one of them is a cycle).
struct SchemaWalk<'v, 'b> {
    defs: Option<&'v Value>,
    budget: &'b mut SchemaBudget,
    expanding: Vec<&'v str>,
}

impl<'v> SchemaWalk<'v, '_> {
    /// Copy `val` into the output, charging its size first.
    fn copy(&mut self, key: &str, val: &Value) -> Result<Value, SchemaFault> {
        let size = json_size(val).saturating_add(key.len()).saturating_add(4);
        if !self.budget.charge(size) {
            return Err(SchemaFault::TooLarge);
        }
        Ok(val.clone())
    }

    fn charge(&mut self, bytes: usize) -> Result<(), SchemaFault> {
        if self.budget.charge(bytes) {
            Ok(())
        } else {
            Err(SchemaFault::TooLarge)
        }
    }

    fn convert(&mut self, v: &'v Value, depth: usize) -> Result<Value, SchemaFault> {
        if depth > SCHEMA_MAX_DEPTH {
            return Err(SchemaFault::TooDeep);
        }
        self.charge(NODE_BYTES)?;
        let Value::Object(src) = v else {
            return Ok(Value::Object(Map::new()));
        };
        if let Some(r) = src.get("$ref").and_then(Value::as_str) {
            let name = r
                .strip_prefix("#/$defs/")
                .or_else(|| r.strip_prefix("#/definitions/"));
            let target = name.and_then(|n| Some((n, self.defs?.get(n)?)));
            let mut resolved = match target {
                Some((name, t)) => {
                    if self.expanding.contains(&name) {
                        return Err(SchemaFault::Cycle);
                    }
                    self.expanding.push(name);
                    let resolved = self.convert(t, depth + 1);
                    self.expanding.pop();
                    resolved?
                }
                None => {
                    self.charge(16)?;
                    single_member("type", Value::from("object"))
                }
            };
            if let (Value::Object(o), Some(d)) = (&mut resolved, src.get("description")) {
                let d = self.copy("description", d)?;
                o.insert("description".into(), d);
            }
            return Ok(resolved);
        }
        let mut out = Map::new();
        for (k, val) in src {
            match k.as_str() {
                "type" => match val {
                    Value::String(t) => {
                        self.charge(t.len().saturating_add(10))?;
                        out.insert("type".into(), Value::from(t.to_ascii_uppercase()));
                    }
                    Value::Array(types) => {
                        let mut non_null = types.iter().filter(|t| t.as_str() != Some("null"));
                        if let Some(t) = non_null.next().and_then(Value::as_str) {
                            self.charge(t.len().saturating_add(10))?;
                            out.insert("type".into(), Value::from(t.to_ascii_uppercase()));
                        }
                        if types.iter().any(|t| t.as_str() == Some("null")) {
                            self.charge(16)?;
                            out.insert("nullable".into(), Value::Bool(true));
                        }
                    }
                    _ => {}
                },
                "format" | "title" | "description" | "nullable" | "maxItems" | "minItems"
                | "required" | "minProperties" | "maxProperties" | "minLength" | "maxLength"
                | "pattern" | "example" | "propertyOrdering" | "default" | "minimum"
                | "maximum" => {
                    let val = self.copy(k, val)?;
                    out.insert(k.clone(), val);
                }
                "enum" => {
                    if let Value::Array(items) = val {
                        if items.iter().all(Value::is_string) {
                            let val = self.copy(k, val)?;
                            out.insert("enum".into(), val);
                        }
                    }
                }
                "const" if val.is_string() => {
                    let val = self.copy("enum[]", val)?;
                    out.insert("enum".into(), Value::Array(vec![val]));
                }
                "properties" => {
                    if let Value::Object(props) = val {
                        let mut reduced = Map::new();
                        for (name, s) in props {
                            self.charge(name.len().saturating_add(4))?;
                            reduced.insert(name.clone(), self.convert(s, depth + 1)?);
                        }
                        out.insert("properties".into(), Value::Object(reduced));
                    }
                }
                "items" if val.is_object() => {
                    let items = self.convert(val, depth + 1)?;
                    out.insert("items".into(), items);
                }
                "anyOf" | "oneOf" => {
                    if let Value::Array(items) = val {
                        let mut reduced = Vec::with_capacity(items.len());
                        for s in items {
                            reduced.push(self.convert(s, depth + 1)?);
                        }
                        out.insert("anyOf".into(), Value::Array(reduced));
                    }
                }
                "allOf" => {
                    if let Value::Array(items) = val {
                        if let [single] = items.as_slice() {
                            if let Value::Object(inner) = self.convert(single, depth + 1)? {
                                for (ik, iv) in inner {
                                    out.entry(ik).or_insert(iv);
                                }
                            }
                        }
                    }
                }
                // Everything else is unknown to Gemini and would make it reject the request.
                _ => {}
            }
        }
        Ok(Value::Object(out))
    }
}

/// `{key: value}`, moving `value` in (`json!` would deep-copy a `Value` it is given).
pub(super) fn single_member(key: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(key.to_owned(), value);
    Value::Object(map)
}
