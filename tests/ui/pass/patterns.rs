//! Pattern arguments: each binding is sent under its own name; `_` is neither sent nor
//! required to be `Serialize`.

#![deny(warnings)]

use serde::Serialize;

#[derive(Serialize)]
struct Order {
    sku: String,
    qty: u32,
}

#[derive(Serialize)]
struct Wrapper<T>(T);

/// Not `Serialize`.
struct Token;

#[capsule::tool]
async fn struct_pattern(Order { sku, qty }: Order) -> anyhow::Result<String> {
    Ok(format!("{qty} x {sku}"))
}

#[capsule::tool]
async fn tuple_pattern((x, y): (i32, i32), _: Token) -> anyhow::Result<i32> {
    Ok(x + y)
}

#[capsule::tool]
async fn nested(
    Wrapper(Order { sku, .. }): Wrapper<Order>,
    &limit: &u32,
) -> anyhow::Result<String> {
    Ok(format!("{sku} up to {limit}"))
}

#[capsule::tool]
async fn mut_in_pattern((mut count, step): (u32, u32)) -> anyhow::Result<u32> {
    count += step;
    Ok(count)
}

#[capsule::tool(skip(sku))]
async fn skip_a_binding(Order { sku, qty }: Order) -> anyhow::Result<usize> {
    Ok(sku.len() + qty as usize)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let order = || Order {
        sku: "SKU-1".to_owned(),
        qty: 2,
    };
    assert_eq!(struct_pattern(order()).await?, "2 x SKU-1");
    assert_eq!(tuple_pattern((1, 2), Token).await?, 3);
    assert_eq!(nested(Wrapper(order()), &5).await?, "SKU-1 up to 5");
    assert_eq!(mut_in_pattern((1, 2)).await?, 3);
    assert_eq!(skip_a_binding(order()).await?, 7);
    Ok(())
}
