#!/usr/bin/env bash
# Compile time of a crate with 100 guarded tools beside the same crate with
# #[tracing::instrument] on them. Dependencies are built first; each measured run
# touches the crate's source and rebuilds only the crate itself.
#
#   bash capsule-bench/build-cost.sh [runs]
set -euo pipefail

runs=${1:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${BUILD_COST_DIR:-$repo/target/build-cost}
tools=100
mkdir -p "$work"

write_crate() { # name, attribute
  local dir=$work/$1
  mkdir -p "$dir/src"
  cat > "$dir/Cargo.toml" <<TOML
[package]
name = "build-cost-$1"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
capsule = { package = "capsule-agent-sdk", path = "$repo" }
tracing = "0.1"
anyhow = "1"
serde = { version = "1", features = ["derive"] }
TOML
  {
    echo "//! $tools tools with \`$2\`."
    echo "#![allow(missing_docs)]"
    for i in $(seq 1 $tools); do
      cat <<RS
#[$2]
pub async fn tool_$i(order_id: String, quantity: u32, note: &str) -> anyhow::Result<String> {
    Ok(format!("{order_id} {quantity} {note} $i"))
}
RS
    done
  } > "$dir/src/lib.rs"
}

cat > "$work/Cargo.toml" <<TOML
[workspace]
members = ["guarded", "instrumented"]
resolver = "3"
TOML
write_crate guarded "capsule::tool"
write_crate instrumented "tracing::instrument"

cd "$work"
cargo build --quiet 2>/dev/null || cargo build

measure() { # crate
  local times=()
  for _ in $(seq 1 "$runs"); do
    touch "$1/src/lib.rs"
    local start end
    start=$(date +%s%N)
    cargo build --quiet -p "build-cost-$1"
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}

guarded=$(measure guarded)
instrumented=$(measure instrumented)
echo "build of $tools tools (median of $runs, debug): capsule::tool ${guarded} ms," \
  "tracing::instrument ${instrumented} ms," \
  "ratio $(awk "BEGIN { printf \"%.2f\", $guarded / $instrumented }")"
