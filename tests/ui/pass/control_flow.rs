//! `mut` arguments (also reassigned to a local borrow), `return` and `?` anywhere in
//! the body, and recursion through `Box::pin`.

#![deny(warnings)]

#[capsule::tool]
async fn reassigned(mut text: &str, mut count: u32) -> anyhow::Result<String> {
    let upper = text.to_uppercase();
    text = &upper;
    count += 1;
    Ok(format!("{text}{count}"))
}

#[capsule::tool]
async fn returns_early(input: &str) -> anyhow::Result<u32> {
    if input.is_empty() {
        return Ok(0);
    }
    for part in input.split(',') {
        if part == "stop" {
            return Err(anyhow::anyhow!("stopped"));
        }
    }
    let parsed: u32 = input.parse()?;
    let doubled = async { Ok::<_, anyhow::Error>(parsed * 2) }.await?;
    Ok(doubled)
}

#[capsule::tool]
async fn depth(levels: u32) -> anyhow::Result<u32> {
    if levels == 0 {
        return Ok(0);
    }
    Ok(Box::pin(depth(levels - 1)).await? + 1)
}

#[capsule::tool]
async fn diverges(fail: bool) -> anyhow::Result<u32> {
    if fail {
        anyhow::bail!("asked to fail");
    }
    loop {
        return Ok(1);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    assert_eq!(reassigned("ab", 1).await?, "AB2");
    assert_eq!(returns_early("").await?, 0);
    assert!(returns_early("a,stop").await.is_err());
    assert!(returns_early("x").await.is_err());
    assert_eq!(returns_early("21").await?, 42);
    assert_eq!(depth(3).await?, 3);
    assert!(diverges(true).await.is_err());
    assert_eq!(diverges(false).await?, 1);
    Ok(())
}
