/**
 * DOM building for the ReCo widgets.
 *
 * Text that comes from a workflow or a node's output (captions, file names, numbers) only ever reaches the page through
 * textContent or attribute values set with the DOM API. Nothing is parsed as HTML, so a caption such as
 * `<img src=x onerror=...>` is shown as those characters and never becomes an element.
 */

/**
 * @param {string} tag
 * @param {{className?: string, text?: unknown, attributes?: Record<string, unknown>}} [options]
 * @param {Node[]} [children]
 * @returns {HTMLElement}
 */
export function element(tag, { className, text, attributes } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  for (const [name, value] of Object.entries(attributes ?? {})) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}
