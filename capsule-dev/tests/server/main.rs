//! `capsule-dev` as its users meet it: over HTTP on loopback, and as a binary.
//!
//! One binary holds every suite so that the crate links one test program instead of one
//! per suite.

mod common;

mod audit;
mod cli;
mod faults;
mod inspection;
mod jwt;
mod logs;
mod policy;
mod reload;
mod status_codes;
mod validation;
