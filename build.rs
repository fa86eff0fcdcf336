fn main() {
    // Only the Node addon needs napi's link setup; the plain core links as any rlib.
    #[cfg(feature = "node")]
    napi_build::setup();
}
