//! A live plugin object with its type erased, and typed views of it.
//!
//! The manager holds every instance as a [`PluginInstance`]: an `Arc<RwLock<P>>` seen both as
//! something whose hooks can be called and as `dyn Any` for typed access. A hook takes the write
//! lock for its whole run (it gets `&mut self`); other plugins and the host read through
//! [`PluginRef`] and [`Dep`]. The lock is tokio's, so it is never poisoned: a hook that panics
//! or is aborted at its deadline just releases it.

use std::any::{Any, TypeId};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use tokio::sync::{OwnedRwLockReadGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::context::Context;
use crate::error::Result;
use crate::plugin::{Plugin, Reconfigured};

/// One of the lifecycle hooks of [`Plugin`], as the manager names the phase a plugin failed
/// in; more may come, so a `match` on it needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Hook {
    /// [`Plugin::setup`].
    Setup,
    /// [`Plugin::on_enable`].
    Enable,
    /// [`Plugin::on_disable`].
    Disable,
    /// [`Plugin::teardown`].
    Teardown,
}

impl Hook {
    /// The hook's method name, e.g. `"on_enable"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Hook::Setup => "setup",
            Hook::Enable => "on_enable",
            Hook::Disable => "on_disable",
            Hook::Teardown => "teardown",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A live plugin object, type-erased and cheap to clone (clones share the object).
///
/// ```
/// use plugin_core::{Plugin, PluginInstance, async_trait};
///
/// #[derive(Default)]
/// struct Counter { hits: u32 }
/// #[async_trait]
/// impl Plugin for Counter {}
///
/// let instance = PluginInstance::new(Counter { hits: 7 });
/// let typed = instance.downcast::<Counter>().expect("it is a Counter");
/// assert_eq!(typed.try_read().unwrap().hits, 7);
/// assert!(instance.downcast::<String>().is_none());
/// ```
#[derive(Clone)]
pub struct PluginInstance {
    /// The object seen as a `dyn Plugin` behind its lock: a hook call is one future of a
    /// known type (the lock's, then the hook's own boxed one), with no box of its own.
    hooks: Arc<RwLock<dyn Plugin>>,
    object: Arc<dyn Any + Send + Sync>,
    type_id: TypeId,
    type_name: &'static str,
}

impl PluginInstance {
    /// Wraps a plugin object.
    #[must_use]
    pub fn new<P: Plugin>(plugin: P) -> Self {
        let cell = Arc::new(RwLock::new(plugin));
        let hooks: Arc<RwLock<dyn Plugin>> = cell.clone();
        Self {
            hooks,
            object: cell,
            type_id: TypeId::of::<P>(),
            type_name: std::any::type_name::<P>(),
        }
    }

    /// Runs one hook to completion, holding the plugin's write lock meanwhile.
    ///
    /// The manager calls this in a tokio task, under the hook's deadline; hidden from the
    /// documentation because a plugin has no business running hooks.
    #[doc(hidden)]
    pub async fn run_hook(&self, hook: Hook, ctx: &Context) -> Result<()> {
        // Mostly nobody holds the lock: taken at once, with no waiter queued.
        let mut plugin = match self.hooks.try_write() {
            Ok(plugin) => plugin,
            Err(_) => self.hooks.write().await,
        };
        match hook {
            Hook::Setup => plugin.setup(ctx).await,
            Hook::Enable => plugin.on_enable(ctx).await,
            Hook::Disable => plugin.on_disable(ctx).await,
            Hook::Teardown => plugin.teardown(ctx).await,
        }
    }

    /// Runs [`Plugin::reconfigure`], holding the plugin's write lock meanwhile; for the
    /// manager, like [`PluginInstance::run_hook`].
    #[doc(hidden)]
    pub async fn reconfigure(&self, ctx: &Context) -> Result<Reconfigured> {
        self.hooks.write().await.reconfigure(ctx).await
    }

    /// The `TypeId` of the plugin type inside.
    #[must_use]
    pub fn plugin_type_id(&self) -> TypeId {
        self.type_id
    }

    /// The name of the plugin type inside.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Whether the plugin inside is a `P`.
    #[must_use]
    pub fn is<P: Plugin>(&self) -> bool {
        self.object.is::<RwLock<P>>()
    }

    /// A typed handle, if the plugin inside is a `P`.
    #[must_use]
    pub fn downcast<P: Any + Send + Sync>(&self) -> Option<PluginRef<P>> {
        self.object
            .clone()
            .downcast::<RwLock<P>>()
            .ok()
            .map(|cell| PluginRef { cell })
    }
}

impl fmt::Debug for PluginInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginInstance")
            .field("type_name", &self.type_name)
            .finish_non_exhaustive()
    }
}

/// A typed handle to a live plugin object, as the host gets it from the manager.
///
/// Reading waits while one of the plugin's hooks runs (hooks hold the write lock).
///
/// The guards ([`PluginReadGuard`], [`PluginWriteGuard`]) are plugin-core's own, so the lock
/// inside (tokio's) is not part of the API.
///
/// ```
/// use plugin_core::{Plugin, PluginInstance, async_trait};
///
/// #[derive(Debug, Default)]
/// struct Counter {
///     count: u32,
/// }
/// #[async_trait]
/// impl Plugin for Counter {}
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let instance = PluginInstance::new(Counter::default());
/// let counter = instance.downcast::<Counter>().expect("a `Counter`");
/// counter.write().await.count += 1;
/// assert_eq!(counter.read().await.count, 1);
/// let reading = counter.try_read().expect("no hook runs");
/// assert_eq!(format!("{reading:?}"), "Counter { count: 1 }");
/// # });
/// ```
pub struct PluginRef<P> {
    cell: Arc<RwLock<P>>,
}

impl<P> Clone for PluginRef<P> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
        }
    }
}

impl<P: Send + Sync> PluginRef<P> {
    /// Waits until no hook of the plugin is running, then reads it.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future gives up the place in the lock's queue, nothing else.
    pub async fn read(&self) -> PluginReadGuard<'_, P> {
        PluginReadGuard {
            guard: self.cell.read().await,
        }
    }

    /// Reads it now, or `None` while one of its hooks runs.
    #[must_use]
    pub fn try_read(&self) -> Option<PluginReadGuard<'_, P>> {
        let guard = self.cell.try_read().ok()?;
        Some(PluginReadGuard { guard })
    }

    /// Waits for exclusive access, e.g. for a test to inspect and change a plugin.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, like [`PluginRef::read`].
    pub async fn write(&self) -> PluginWriteGuard<'_, P> {
        PluginWriteGuard {
            guard: self.cell.write().await,
        }
    }

    /// Reads it now as an owned guard, or `None` while one of its hooks runs.
    #[must_use]
    pub fn try_read_owned(&self) -> Option<Dep<P>> {
        self.cell
            .clone()
            .try_read_owned()
            .ok()
            .map(|guard| Dep { guard })
    }
}

impl<P> fmt::Debug for PluginRef<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginRef")
            .field("type", &std::any::type_name::<P>())
            .finish_non_exhaustive()
    }
}

/// Shared access to a plugin, from [`PluginRef::read`] or [`PluginRef::try_read`].
/// Dereferences to the plugin; its hooks wait while a guard is alive.
#[must_use = "the plugin is read-locked while the guard lives: drop it once read"]
pub struct PluginReadGuard<'a, P> {
    guard: RwLockReadGuard<'a, P>,
}

impl<P> Deref for PluginReadGuard<'_, P> {
    type Target = P;

    fn deref(&self) -> &P {
        &self.guard
    }
}

/// As the plugin.
impl<P: fmt::Debug> fmt::Debug for PluginReadGuard<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to a plugin, from [`PluginRef::write`]. Dereferences, mutably too, to the
/// plugin; its hooks and readers wait while the guard is alive.
#[must_use = "the plugin is write-locked while the guard lives: drop it once done"]
pub struct PluginWriteGuard<'a, P> {
    guard: RwLockWriteGuard<'a, P>,
}

impl<P> Deref for PluginWriteGuard<'_, P> {
    type Target = P;

    fn deref(&self) -> &P {
        &self.guard
    }
}

impl<P> DerefMut for PluginWriteGuard<'_, P> {
    fn deref_mut(&mut self) -> &mut P {
        &mut self.guard
    }
}

/// As the plugin.
impl<P: fmt::Debug> fmt::Debug for PluginWriteGuard<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Shared access to a dependency, from [`Context::dep`]. Dereferences to the plugin.
///
/// While a `Dep` is alive the dependency's own hooks wait, so keep it for the call you make,
/// not across long awaits; take a cheap handle out of it (a channel, an `Arc`) to keep.
pub struct Dep<P> {
    guard: OwnedRwLockReadGuard<P>,
}

impl<P> Deref for Dep<P> {
    type Target = P;

    fn deref(&self) -> &P {
        &self.guard
    }
}

impl<P> fmt::Debug for Dep<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dep")
            .field("type", &std::any::type_name::<P>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Poll, Waker};

    use super::{Hook, PluginInstance};
    use crate::{Context, Plugin, PluginMetadata, Result, async_trait};

    /// Polls `future` once.
    fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut std::task::Context::from_waker(Waker::noop()))
    }

    #[derive(Default)]
    struct Counter {
        setups: u32,
    }

    #[async_trait]
    impl Plugin for Counter {
        async fn setup(&mut self, _ctx: &Context) -> Result<()> {
            self.setups += 1;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_hook_waits_for_a_reader_of_the_plugin_then_runs() {
        let instance = PluginInstance::new(Counter::default());
        let typed = instance.downcast::<Counter>().expect("a Counter");
        let ctx = Context::detached(PluginMetadata::new("counter"));
        let reading = typed.try_read().expect("nobody holds it");
        let hook = instance.run_hook(Hook::Setup, &ctx);
        tokio::pin!(hook);
        assert!(
            poll_once(hook.as_mut()).is_pending(),
            "the hook waits while the plugin is read"
        );
        drop(reading);
        hook.await.expect("setup succeeds");
        assert_eq!(typed.try_read().expect("the hook is over").setups, 1);
    }

    #[tokio::test]
    async fn a_hook_takes_the_plugin_at_once_when_nobody_holds_it() {
        let instance = PluginInstance::new(Counter::default());
        let ctx = Context::detached(PluginMetadata::new("counter"));
        let hook = instance.run_hook(Hook::Setup, &ctx);
        tokio::pin!(hook);
        assert!(poll_once(hook.as_mut()).is_ready());
        let typed = instance.downcast::<Counter>().expect("a Counter");
        assert_eq!(typed.try_read().expect("the hook is over").setups, 1);
    }
}
