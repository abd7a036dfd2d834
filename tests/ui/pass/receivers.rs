//! Methods with every kind of receiver, and a trait's default method; `Self` in the
//! body; the receiver is not sent.

#![deny(warnings)]

use std::sync::Arc;

#[derive(Clone, serde::Serialize)]
struct Shop {
    stock: u32,
}

impl Shop {
    fn restocked(stock: u32) -> Self {
        Self { stock }
    }

    #[capsule::tool]
    async fn by_value(self, extra: u32) -> anyhow::Result<u32> {
        Ok(self.stock + extra)
    }

    #[capsule::tool]
    async fn by_mut_value(mut self, extra: u32) -> anyhow::Result<Self> {
        self.stock += extra;
        Ok(self)
    }

    #[capsule::tool]
    async fn by_ref(&self, sku: &str) -> anyhow::Result<String> {
        Ok(format!("{} of {sku}", self.stock))
    }

    #[capsule::tool]
    async fn by_mut_ref(&mut self, taken: u32) -> anyhow::Result<u32> {
        self.stock -= taken;
        Ok(self.stock)
    }

    #[capsule::tool]
    async fn by_arc(self: Arc<Self>, extra: u32) -> anyhow::Result<Self> {
        Ok(Self::restocked(self.stock + extra))
    }

    #[capsule::tool]
    async fn no_arguments(&self) -> anyhow::Result<u32> {
        Ok(self.stock)
    }
}

trait Inventory {
    fn count(&self) -> u32;

    /// A default method of a trait, guarded like any other.
    #[capsule::tool]
    async fn report(&self, label: &str) -> anyhow::Result<String> {
        Ok(format!("{label}: {}", self.count()))
    }
}

impl Inventory for Shop {
    fn count(&self) -> u32 {
        self.stock
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut shop = Shop { stock: 10 };
    assert_eq!(shop.by_ref("SKU-1").await?, "10 of SKU-1");
    assert_eq!(shop.by_mut_ref(3).await?, 7);
    assert_eq!(shop.no_arguments().await?, 7);
    assert_eq!(shop.report("stock").await?, "stock: 7");
    assert_eq!(Arc::new(shop.clone()).by_arc(1).await?.stock, 8);
    assert_eq!(shop.clone().by_mut_value(2).await?.stock, 9);
    assert_eq!(shop.by_value(1).await?, 8);
    Ok(())
}
