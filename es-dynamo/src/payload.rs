//! Payloads as native DynamoDB values, through serde_dynamo: a struct becomes
//! a map (M), never a JSON string.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeSeed;
use serde::Serialize;
use serde_json::{Number, Value};

use es_core::store::CodecError;

/// Encodes a value as a DynamoDB attribute value.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<AttributeValue, CodecError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value).map_err(CodecError::new)
}

/// Decodes an attribute value with a seed.
///
/// The value becomes JSON first and is decoded as `MemoryStore` decodes its
/// own (`es_core::store::decode_json`), so that a payload that does not fit
/// its type fails in the same words on both stores, naming the field's path
/// and what was found there; serde_dynamo's own errors say only what was
/// expected ("Expected num"). The shapes are the ones serde_dynamo writes: a
/// number is a JSON number, a map an object, a list or set an array, binary
/// an array of bytes.
pub(crate) fn decode<T, V>(seed: T, value: AttributeValue) -> Result<V, CodecError>
where
    T: for<'de> DeserializeSeed<'de, Value = V>,
{
    es_core::store::decode_json(seed, to_json(value).map_err(CodecError::new)?)
}

/// An attribute value as JSON. It refuses a type the SDK did not recognise
/// (`AttributeValue::Unknown`), and a number JSON cannot hold, so that
/// nothing read from the table can panic.
fn to_json(value: AttributeValue) -> Result<Value, String> {
    Ok(match value {
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::N(n) => Value::Number(number(&n)?),
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::B(b) => bytes(b.into_inner()),
        AttributeValue::Ss(s) => Value::Array(s.into_iter().map(Value::String).collect()),
        AttributeValue::Ns(n) => Value::Array(
            n.iter()
                .map(|n| number(n).map(Value::Number))
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::Bs(b) => {
            Value::Array(b.into_iter().map(|b| bytes(b.into_inner())).collect())
        }
        AttributeValue::L(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        AttributeValue::M(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        _ => return Err("a value of a type this SDK does not know".to_owned()),
    })
}

/// A DynamoDB number as JSON: a whole number when it is one that fits 64
/// bits, else a float, as serde_dynamo reads an untyped number.
fn number(n: &str) -> Result<Number, String> {
    if let Ok(u) = n.parse::<u64>() {
        return Ok(u.into());
    }
    if let Ok(i) = n.parse::<i64>() {
        return Ok(i.into());
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| format!("the number {n:?} does not fit a 64-bit integer or float"))
}

fn bytes(b: Vec<u8>) -> Value {
    Value::Array(b.into_iter().map(Value::from).collect())
}

#[cfg(test)]
mod tests {
    use std::marker::PhantomData;

    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Reserved {
        cart_id: String,
        quantity: u32,
        note: Option<String>,
    }

    #[derive(serde::Deserialize, Debug)]
    struct Order {
        #[allow(dead_code)]
        lines: Vec<Line>,
    }

    #[derive(serde::Deserialize, Debug)]
    struct Line {
        #[allow(dead_code)]
        quantity: u32,
    }

    /// A mistyped field fails with its path and what was found, in the
    /// words MemoryStore uses for the same JSON.
    #[test]
    fn decode_errors_name_the_path_as_memory_store_does() {
        let line = |q: AttributeValue| {
            AttributeValue::M([("quantity".to_owned(), q)].into_iter().collect())
        };
        let value = AttributeValue::M(
            [(
                "lines".to_owned(),
                AttributeValue::L(vec![
                    line(AttributeValue::N("1".into())),
                    line(AttributeValue::S("x".into())),
                ]),
            )]
            .into_iter()
            .collect(),
        );
        let dynamo = decode(PhantomData::<Order>, value).expect_err("a string quantity");
        let json = serde_json::json!({"lines": [{"quantity": 1}, {"quantity": "x"}]});
        let memory =
            es_core::store::decode_json(PhantomData::<Order>, json).expect_err("a string quantity");
        assert_eq!(dynamo, memory);
        assert_eq!(dynamo.path.as_deref(), Some("lines[1].quantity"));
        assert_eq!(dynamo.message, "invalid type: string \"x\", expected u32");
        assert_eq!(
            dynamo.to_string(),
            "field `lines[1].quantity`: invalid type: string \"x\", expected u32"
        );
        let n = decode(PhantomData::<Order>, AttributeValue::N("7".into())).expect_err("a number");
        assert_eq!(n.path, None);
        assert_eq!(
            n.to_string(),
            "invalid type: integer `7`, expected struct Order"
        );
    }

    #[test]
    fn numbers_and_binary_decode_as_serde_dynamo_writes_them() {
        #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
        struct All {
            small: i64,
            big: u64,
            ratio: f64,
            data: Vec<u8>,
            tags: Option<Vec<String>>,
        }
        let all = All {
            small: -3,
            big: u64::MAX,
            ratio: 0.25,
            data: vec![0, 255],
            tags: None,
        };
        let back: All = decode(PhantomData, encode(&all).expect("encodes")).expect("decodes");
        assert_eq!(back, all);
        assert!(decode(PhantomData::<f64>, AttributeValue::N("1e400".into())).is_err());
    }

    #[test]
    fn structs_are_native_maps() {
        let value = encode(&Reserved {
            cart_id: "c1".into(),
            quantity: 2,
            note: None,
        })
        .expect("encodes");
        let AttributeValue::M(map) = &value else {
            panic!("not a map: {value:?}")
        };
        assert_eq!(map.get("cart_id"), Some(&AttributeValue::S("c1".into())));
        assert_eq!(map.get("quantity"), Some(&AttributeValue::N("2".into())));
        let back: Reserved = decode(PhantomData, value).expect("decodes");
        assert_eq!(
            back,
            Reserved {
                cart_id: "c1".into(),
                quantity: 2,
                note: None
            }
        );
    }
}
