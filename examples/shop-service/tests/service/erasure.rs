//! Forgetting a customer over HTTP: `DELETE /customers/{id}` erases the
//! email and address a checkout stored, in the cart's history, in the
//! order view and for every later reader, and refuses new personal data
//! for them.

use es::prelude::*;
use serde_json::json;
use shop_service::read_side::ReadSide;
use shop_service::shop::{Address, Cart, CartEvent};
use shop_service::App;

use crate::client::{serve, shipping, Http};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_customer_erases_their_shipping_everywhere() {
    let store = es::MemoryStore::new();
    let app = App::new(store.clone()).with_views(ReadSide::memory(&store));
    let server = serve(app.router()).await;
    let http = Http::new(&server);

    http.post("/products/mug/restock", json!({"amount": 5}))
        .await
        .assert_status(200);
    for cart in ["c1", "c2"] {
        http.post(
            &format!("/carts/{cart}/items"),
            json!({"sku": "mug", "quantity": 1}),
        )
        .await
        .assert_status(200);
    }
    http.post("/carts/c1/checkout", shipping())
        .await
        .assert_status(200);

    // Before: the order shows what the customer gave; the store holds it
    // sealed.
    let order = http.get("/carts/c1/order").await;
    assert_eq!(
        order.body,
        json!({"customer": "cust-1", "email": "ada@example.com", "forgotten": false,
               "address": {"line1": "1 Market Street", "city": "Springfield",
                           "postcode": "12345", "country": "US"}}),
        "{order:?}"
    );
    let stored = format!("{:?}", store.changes(0, 100));
    assert!(!stored.contains("ada@example.com"), "{stored}");
    assert!(!stored.contains("Market Street"), "{stored}");

    // Bad ids are refused before anything is forgotten.
    http.send("DELETE", "/customers/%20", &[], None)
        .await
        .assert_problem(400, "invalid-id");

    http.send("DELETE", "/customers/cust-1", &[], None)
        .await
        .assert_status(204);
    // Forgetting again, or someone unknown, is no error.
    http.send("DELETE", "/customers/cust-1", &[], None)
        .await
        .assert_status(204);
    http.send("DELETE", "/customers/nobody", &[], None)
        .await
        .assert_status(204);

    // After: the order view, the cart's history and a new load all see
    // placeholders.
    let order = http.get("/carts/c1/order").await;
    assert_eq!(
        order.body,
        json!({"customer": "cust-1", "email": "[erased]", "address": null, "forgotten": true}),
        "{order:?}"
    );
    let cart = Cart::load(&store, "c1").await.expect("load");
    assert!(cart.checked_out);
    let history: Vec<_> = cart.history().try_collect().await.expect("history");
    let checked_out = history
        .iter()
        .find_map(|r| match &r.event {
            CartEvent::CartCheckedOut(e) => Some(e.clone()),
            _ => None,
        })
        .expect("a checkout");
    assert_eq!(checked_out.customer, "cust-1");
    assert_eq!(checked_out.email, "[erased]");
    assert_eq!(checked_out.address, Address::default());
    // The cart JSON has no personal data to begin with.
    let cart = http.get("/carts/c1").await;
    cart.assert_status(200);
    let body = cart.body.to_string();
    assert!(
        !body.contains("email") && !body.contains("address") && !body.contains("cust-1"),
        "{body}"
    );

    // A forgotten customer's new checkout is refused: nothing personal is
    // stored for them again.
    http.post("/carts/c2/checkout", shipping())
        .await
        .assert_problem(410, "customer-forgotten");
    // Another customer checks out as before.
    let mut other = shipping();
    other["customer"] = json!("cust-2");
    http.post("/carts/c2/checkout", other)
        .await
        .assert_status(200);
}
