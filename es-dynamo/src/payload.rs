//! Payloads as native DynamoDB values, through serde_dynamo: a struct becomes
//! a map (M), never a JSON string.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeSeed;
use serde::Serialize;

/// Encodes a value as a DynamoDB attribute value.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<AttributeValue, String> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value).map_err(|e| e.to_string())
}

/// Decodes an attribute value with a seed.
pub(crate) fn decode<T, V>(seed: T, value: AttributeValue) -> Result<V, String>
where
    T: for<'de> DeserializeSeed<'de, Value = V>,
{
    let value = to_serde_dynamo(value)?;
    seed.deserialize(serde_dynamo::Deserializer::from_attribute_value(value))
        .map_err(|e| e.to_string())
}

/// serde_dynamo's own conversion panics on a type the SDK did not recognise
/// (`AttributeValue::Unknown`); this one refuses it, so that nothing read from
/// the table can panic.
fn to_serde_dynamo(value: AttributeValue) -> Result<serde_dynamo::AttributeValue, String> {
    use serde_dynamo::AttributeValue as Sd;
    Ok(match value {
        AttributeValue::S(s) => Sd::S(s),
        AttributeValue::N(n) => Sd::N(n),
        AttributeValue::Bool(b) => Sd::Bool(b),
        AttributeValue::Null(n) => Sd::Null(n),
        AttributeValue::B(b) => Sd::B(b.into_inner()),
        AttributeValue::Ss(s) => Sd::Ss(s),
        AttributeValue::Ns(n) => Sd::Ns(n),
        AttributeValue::Bs(b) => Sd::Bs(b.into_iter().map(|b| b.into_inner()).collect()),
        AttributeValue::L(items) => Sd::L(
            items
                .into_iter()
                .map(to_serde_dynamo)
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::M(map) => Sd::M(
            map.into_iter()
                .map(|(k, v)| Ok((k, to_serde_dynamo(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        _ => return Err("a value of a type this SDK does not know".to_owned()),
    })
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
