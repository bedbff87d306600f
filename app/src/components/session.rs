//! The signed-in user, read once per page and shared by the navigation,
//! the part cards and the dialogs (which show who acts, and offer changes
//! only to roles that may make them).

use leptos::prelude::*;

use crate::api::access::{current_user, Me};
use crate::api::ApiError;

/// The page's caller: one server read per page, rendered with the page
/// and handed to the browser with it.
#[derive(Clone, Copy)]
pub struct Session(OnceResource<Result<Option<Me>, ApiError>, crate::resource::Json>);

impl Session {
    /// Reads the caller for this page and shares it (the app's root).
    pub fn provide() {
        provide_context(Session(crate::resource::once_resource(current_user())));
    }

    /// The page's session (read here if no root provided one).
    pub fn get() -> Self {
        use_context::<Session>()
            .unwrap_or_else(|| Session(crate::resource::once_resource(current_user())))
    }

    /// The caller once read (`None`: no session, or it could not be read).
    pub async fn me(self) -> Option<Me> {
        self.0.await.ok().flatten()
    }
}
