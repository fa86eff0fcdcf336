//! Promises the binding settles itself: at once on the JS thread when the work was done
//! there (a local append), or later from whichever runtime carries the work (the remote
//! client's own thread), with no hop through napi's runtime on the way.

use std::future::Future;
use std::pin::Pin;

use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::JsValue;

use super::error::to_js;
use crate::error::Error;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = napi::Result<T>> + Send + 'static>>;

/// A result a backend has now, or work it will finish later.
pub enum Pending<T> {
    Ready(napi::Result<T>),
    Later(BoxFuture<T>),
}

type Resolve<T> = Box<dyn FnOnce(napi::Env) -> napi::Result<T> + Send>;

/// A promise settled once from any thread: by its answer, or, if the task carrying it is
/// dropped (the handle closed under it), rejected then, so no call waits forever.
pub struct Answer<T: ToNapiValue + Send + 'static>(Option<napi::JsDeferred<T, Resolve<T>>>);

impl<T: ToNapiValue + Send + 'static> Answer<T> {
    pub fn new(env: &napi::Env) -> napi::Result<(Answer<T>, PromiseRaw<'_, T>)> {
        let (deferred, promise) = env.create_deferred::<T, Resolve<T>>()?;
        Ok((Answer(Some(deferred)), PromiseRaw::new(env.raw(), promise.raw())))
    }

    pub fn settle(mut self, r: napi::Result<T>) {
        if let Some(d) = self.0.take() {
            match r {
                Ok(v) => d.resolve(Box::new(move |_| Ok(v))),
                Err(e) => d.reject(e),
            }
        }
    }
}

impl<T: ToNapiValue + Send + 'static> Drop for Answer<T> {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            d.reject(to_js(Error::Closed));
        }
    }
}

/// Where a backend runs work that settles a promise later.
pub trait Spawn {
    fn spawn(&self, f: Pin<Box<dyn Future<Output = ()> + Send + 'static>>);
}

/// The promise of `pending`: settled now when it is ready, else when `on` has run it.
pub fn promise<'env, T: ToNapiValue + Send + 'static>(env: &'env napi::Env, on: &dyn Spawn, pending: Pending<T>) -> napi::Result<PromiseRaw<'env, T>> {
    match pending {
        Pending::Ready(Ok(v)) => PromiseRaw::resolve(env, v),
        Pending::Ready(Err(e)) => PromiseRaw::reject(env, napi::JsError::from(e)),
        Pending::Later(work) => {
            let (answer, promise) = Answer::new(env)?;
            on.spawn(Box::pin(async move { answer.settle(work.await) }));
            Ok(promise)
        }
    }
}
