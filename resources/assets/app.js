/*
 * Admin UI behaviour on top of htmx: validation errors (422) and refusals (4xx) are swapped in
 * like successes, so forms show their errors next to the fields; fragments loaded into the modal
 * open it; [data-close-modal] closes it; form[data-confirm] asks before sending.
 */
document.addEventListener('DOMContentLoaded', () => {
  if (window.htmx) {
    window.htmx.config.responseHandling = [
      { code: '204', swap: false },
      { code: '[23]..', swap: true },
      { code: '4..', swap: true, error: false },
      // Server errors carry a message too (the modal's, or #flash's through HX-Retarget): shown.
      { code: '5..', swap: true, error: true },
      { code: '...', swap: false, error: true },
    ]
  }
})

document.addEventListener('htmx:afterSwap', (event) => {
  const target = event.detail.target
  if (target && target.id === 'modal-body') {
    const dialog = document.getElementById('modal')
    if (dialog && !dialog.open) dialog.showModal()
    const focusable = target.querySelector('[autofocus], h2, button, a, input, select, textarea')
    if (focusable) focusable.focus()
  }
})

// <form data-confirm="question">: asked before the form is sent (no inline script, so names
// in the question are only ever text).
document.addEventListener('submit', (event) => {
  const form = event.target.closest('form[data-confirm]')
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault()
})

document.addEventListener('click', (event) => {
  const closer = event.target.closest('[data-close-modal]')
  if (closer) {
    const dialog = document.getElementById('modal')
    if (dialog) dialog.close()
  }
})

// HX-Trigger: closeModal (sent by the server after a successful action inside the modal).
document.addEventListener('closeModal', () => document.getElementById('modal')?.close())

// HX-Trigger: pluginChanged (a plugin was enabled or disabled): refresh the side navigation,
// where the plugin's menu group appears or disappears.
document.addEventListener('pluginChanged', () => {
  if (!window.htmx) return
  window.htmx.ajax('GET', window.location.pathname + window.location.search, {
    target: '.sidebar',
    select: '.sidebar',
    swap: 'outerHTML',
  })
})
