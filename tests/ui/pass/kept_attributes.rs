//! Visibility, `unsafe`, doc comments, `#[cfg]`, `#[cfg_attr(..)]` and other outer
//! attributes are kept, and an inner attribute at the top of the body stays first.
//! Under `deny(warnings)`, each case fails to build if its attribute were lost.

#![deny(warnings)]

mod tools {
    /// Visible to the rest of the crate, as written.
    #[capsule::tool]
    pub(crate) async fn visible(id: u32) -> anyhow::Result<u32> {
        Ok(id)
    }

    /// # Safety
    /// `ptr` must point to a live `u32`.
    #[capsule::tool(skip(ptr))]
    pub async unsafe fn read(ptr: *const u32, label: &str) -> anyhow::Result<String> {
        // SAFETY: the caller promises that `ptr` is live.
        let value = unsafe { *ptr };
        Ok(format!("{label}={value}"))
    }

    /// Kept out of the build: without its `#[cfg]`, `twice` would be defined twice.
    #[capsule::tool]
    #[cfg(any())]
    pub async fn twice(id: u32) -> anyhow::Result<u32> {
        Ok(id)
    }

    /// The one `twice` that is built.
    #[capsule::tool]
    #[cfg_attr(all(), inline)]
    pub async fn twice(id: u32) -> anyhow::Result<u32> {
        Ok(id * 2)
    }

    /// An unused local that an outer `allow` silences.
    #[capsule::tool]
    #[cfg_attr(all(), allow(unused_variables))]
    pub async fn outer_allow(id: u32) -> anyhow::Result<u32> {
        let unused = id;
        Ok(id)
    }

    /// An unused local that an inner `allow` silences.
    #[capsule::tool]
    pub async fn inner_allow(id: u32) -> anyhow::Result<u32> {
        #![allow(unused_variables)]
        let unused = id;
        Ok(id)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let value = 7;
    assert_eq!(tools::visible(1).await?, 1);
    // SAFETY: `value` lives until the end of `main`.
    assert_eq!(unsafe { tools::read(&raw const value, "v") }.await?, "v=7");
    assert_eq!(tools::twice(2).await?, 4);
    assert_eq!(tools::outer_allow(3).await?, 3);
    assert_eq!(tools::inner_allow(4).await?, 4);
    Ok(())
}
