//! The elements of www/index.html the page works with, looked up once when
//! the page starts: a page whose markup lacks one (or has the wrong kind of
//! element under an id) fails there, with one error naming every id that
//! is wrong, instead of at the first click that needs it.

use wasm_bindgen::{JsCast, JsError};
use web_sys::{
    Document, Element, HtmlAnchorElement, HtmlButtonElement, HtmlElement, HtmlInputElement,
    HtmlProgressElement, HtmlSelectElement, HtmlTextAreaElement,
};

/// Declares [`Dom`]: one field per element, with its type and its id.
macro_rules! dom {
    ($($field:ident: $ty:ty = $id:literal,)*) => {
        /// Handles on the page's elements (see the module docs).
        pub struct Dom {
            pub document: Document,
            $(#[doc = concat!("`#", $id, "`")] pub $field: $ty,)*
        }

        impl Dom {
            /// Looks every element up; the error names each missing (or
            /// mistyped) id.
            pub fn lookup(document: Document) -> Result<Dom, JsError> {
                let mut wrong = Vec::new();
                $(let $field = find::<$ty>(&document, $id, &mut wrong);)*
                match ($($field,)*) {
                    ($(Some($field),)*) => Ok(Dom { document, $($field,)* }),
                    _ => Err(JsError::new(&format!(
                        "index.html does not fit this imgforge: {}",
                        wrong.join("; ")
                    ))),
                }
            }
        }
    };
}

dom! {
    tab_build: HtmlElement = "tab-build",
    tab_inspect: HtmlElement = "tab-inspect",
    view_build: HtmlElement = "view-build",
    view_inspect: HtmlElement = "view-inspect",
    // The build view: the form.
    presets: HtmlElement = "presets",
    f_disk: HtmlElement = "f-disk",
    f_size: HtmlInputElement = "f-size",
    f_table: HtmlSelectElement = "f-table",
    f_grow: HtmlElement = "f-grow",
    g_image: HtmlInputElement = "g-image",
    g_size: HtmlInputElement = "g-size",
    g_last: HtmlInputElement = "g-last",
    f_parts: HtmlElement = "f-parts",
    f_add_part: HtmlElement = "f-add-part",
    f_format: HtmlSelectElement = "f-format",
    f_loader_row: HtmlElement = "f-loader-row",
    f_loader: HtmlSelectElement = "f-loader",
    f_grub: HtmlElement = "f-grub",
    grub_source: HtmlInputElement = "grub-source",
    grub_modules: HtmlInputElement = "grub-modules",
    grub_cfg: HtmlTextAreaElement = "grub-cfg",
    format_note: HtmlElement = "format-note",
    // Input files.
    drop: HtmlElement = "drop",
    files: HtmlInputElement = "files",
    folder: HtmlInputElement = "folder",
    preset_inputs: HtmlElement = "preset-inputs",
    needs: HtmlElement = "needs",
    file_summary: HtmlElement = "file-summary",
    clear_files: HtmlElement = "clear-files",
    file_list: HtmlElement = "file-list",
    // The recipe.
    syntax_toml: HtmlInputElement = "syntax-toml",
    syntax_json: HtmlInputElement = "syntax-json",
    recipe: HtmlTextAreaElement = "recipe",
    recipe_error: HtmlElement = "recipe-error",
    cli_note: HtmlElement = "cli-note",
    cli_cmd: HtmlElement = "cli-cmd",
    cli_toml: HtmlElement = "cli-toml",
    // Build, progress and the output.
    actions: HtmlElement = "actions",
    build: HtmlButtonElement = "build",
    cancel: HtmlButtonElement = "cancel",
    progress: HtmlProgressElement = "progress",
    status: HtmlElement = "status",
    download: HtmlAnchorElement = "download",
    build_warnings: HtmlElement = "build-warnings",
    save_note: HtmlElement = "save-note",
    // The inspect view.
    inspect_drop: HtmlElement = "inspect-drop",
    inspect_file: HtmlInputElement = "inspect-file",
    inspect_status: HtmlElement = "inspect-status",
    file_download: HtmlAnchorElement = "file-download",
    inspect_out: HtmlElement = "inspect-out",
    inspect_name: HtmlElement = "inspect-name",
    facts: HtmlElement = "facts",
    inspect_warnings: HtmlElement = "inspect-warnings",
    parts: HtmlElement = "parts",
    tree: HtmlElement = "tree",
    inspect_json: HtmlElement = "inspect-json",
}

/// The element `#id` as a `T`; `None` (and why, in `wrong`) if it is not.
fn find<T: JsCast>(document: &Document, id: &str, wrong: &mut Vec<String>) -> Option<T> {
    let Some(e) = document.get_element_by_id(id) else {
        wrong.push(format!("no #{id}"));
        return None;
    };
    let tag = e.tag_name().to_lowercase();
    e.dyn_into::<T>()
        .map_err(|_| wrong.push(format!("#{id} is a <{tag}> of the wrong kind")))
        .ok()
}

impl Dom {
    /// A new element `<tag>` (`None` if the document refuses).
    pub fn create(&self, tag: &str) -> Option<Element> {
        self.document.create_element(tag).ok()
    }
}

/// Sets an element's text.
pub fn set_text(e: &Element, text: &str) {
    e.set_text_content(Some(text));
}

/// Shows or hides an element (its `hidden` attribute).
pub fn show(e: &HtmlElement, visible: bool) {
    e.set_hidden(!visible);
}
