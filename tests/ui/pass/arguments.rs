//! Every argument of the attribute, together and alone, including `crate = "..."` for
//! a renamed dependency.

#![deny(warnings)]

extern crate capsule as renamed_capsule;

use serde::Serialize;

#[derive(Serialize)]
struct Args {
    query: String,
}

/// Not `Serialize`.
struct Db;

#[capsule::tool(name = "database_query", skip(db))]
async fn named(db: &Db, query: &str) -> anyhow::Result<usize> {
    let Db = db;
    Ok(query.len())
}

#[capsule::tool(skip_all)]
async fn nothing_sent(db: Db) -> anyhow::Result<()> {
    let Db = db;
    Ok(())
}

#[capsule::tool(input = args, name = "whole")]
async fn whole(db: &Db, args: Args) -> anyhow::Result<String> {
    let Db = db;
    Ok(args.query)
}

#[capsule::tool(skip_output)]
async fn unreported(query: &str) -> anyhow::Result<Db> {
    let _ = query;
    Ok(Db)
}

#[capsule::tool(on_block = |blocked| blocked.to_string(), skip_output)]
async fn text(query: &str) -> String {
    query.to_owned()
}

#[renamed_capsule::tool(crate = "renamed_capsule")]
async fn renamed_string(query: &str) -> anyhow::Result<usize> {
    Ok(query.len())
}

#[renamed_capsule::tool(crate = ::renamed_capsule)]
async fn renamed_path(query: &str) -> anyhow::Result<usize> {
    Ok(query.len())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    assert_eq!(named(&Db, "abc").await?, 3);
    nothing_sent(Db).await?;
    assert_eq!(
        whole(
            &Db,
            Args {
                query: "q".to_owned()
            }
        )
        .await?,
        "q"
    );
    let Db = unreported("q").await?;
    assert_eq!(text("t").await, "t");
    assert_eq!(renamed_string("ab").await?, 2);
    assert_eq!(renamed_path("ab").await?, 2);
    Ok(())
}
