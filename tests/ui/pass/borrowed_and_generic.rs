//! Borrowed arguments with elided and explicit lifetimes, type and const generics,
//! `where` clauses, `impl Trait` arguments and `?Sized` parameters.

#![deny(warnings)]

use std::fmt::Display;

use serde::Serialize;

#[capsule::tool]
async fn several_borrows(name: &str, tags: &[String], limit: &u32) -> anyhow::Result<String> {
    Ok(format!("{name} {} {limit}", tags.len()))
}

#[capsule::tool]
async fn explicit<'a, 'b: 'a>(first: &'a str, second: &'b str) -> anyhow::Result<&'a str> {
    Ok(if first.len() >= second.len() {
        first
    } else {
        second
    })
}

#[capsule::tool]
async fn generic<T: Serialize + Display + Send + Sync>(value: T) -> anyhow::Result<String> {
    Ok(value.to_string())
}

#[capsule::tool]
async fn with_where<K, V>(key: K, value: &V) -> anyhow::Result<String>
where
    K: Serialize + Display,
    V: Serialize + Display + ?Sized,
{
    Ok(format!("{key}={value}"))
}

#[capsule::tool]
async fn unsized_param<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string(value)?)
}

#[capsule::tool]
async fn const_generic<const N: usize>(items: Vec<u8>) -> anyhow::Result<bool> {
    Ok(items.len() == N)
}

#[capsule::tool]
async fn impl_trait_args(
    label: impl Serialize + Display,
    items: impl IntoIterator<Item = u32> + Serialize,
) -> anyhow::Result<String> {
    Ok(format!("{label}: {}", items.into_iter().sum::<u32>()))
}

struct Catalog {
    names: Vec<String>,
}

impl Catalog {
    #[capsule::tool]
    async fn find(&self, prefix: &str) -> anyhow::Result<Option<&str>> {
        Ok(self
            .names
            .iter()
            .map(String::as_str)
            .find(|n| n.starts_with(prefix)))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    assert_eq!(several_borrows("a", &["t".to_owned()], &3).await?, "a 1 3");
    assert_eq!(explicit("long", "s").await?, "long");
    assert_eq!(generic(7).await?, "7");
    assert_eq!(with_where("k", "v").await?, "k=v");
    assert_eq!(unsized_param("text").await?, "\"text\"");
    assert!(const_generic::<2>(vec![1, 2]).await?);
    assert_eq!(impl_trait_args("sum", vec![1, 2]).await?, "sum: 3");

    let catalog = Catalog {
        names: vec!["apple".to_owned()],
    };
    assert_eq!(catalog.find("ap").await?, Some("apple"));
    Ok(())
}
