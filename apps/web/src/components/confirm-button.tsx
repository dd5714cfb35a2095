'use client';
// A button for a destructive action that asks first, in the browser's modal
// <dialog>: showModal() makes the page behind it inert, Escape cancels, and the
// dialog is labelled by its question; Tab cycles within it (a modal dialog alone
// lets the focus leave for the browser's own controls). Used
// instead of window.confirm(), which cannot be styled, labelled or tested.
import { useId, useRef, type KeyboardEvent, type ReactNode } from 'react';
import { Button } from './ui';

export function ConfirmButton({
  children,
  title,
  description,
  confirmLabel,
  onConfirm,
  variant = 'danger',
  confirmVariant = 'danger',
  busy,
  className,
  'aria-label': ariaLabel,
}: {
  children: ReactNode;
  /** The question, e.g. "Delete shop?": the dialog's name. */
  title: string;
  /** What happens if the person goes ahead. */
  description: ReactNode;
  /** The go-ahead button, naming the action ("Delete shop"). */
  confirmLabel: string;
  onConfirm: () => void;
  /** The opening button's look: a quiet ghost in a table row, danger on its own. */
  variant?: 'danger' | 'secondary' | 'ghost';
  /** The go-ahead button's look: danger, whatever the opening button looks like; primary for what is not destructive (a rollback). */
  confirmVariant?: 'danger' | 'primary';
  busy?: boolean;
  className?: string;
  'aria-label'?: string;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const id = useId();
  function keepFocus(e: KeyboardEvent<HTMLDialogElement>) {
    if (e.key !== 'Tab') return;
    const buttons = [...e.currentTarget.querySelectorAll('button')];
    const [first, last] = [buttons[0], buttons[buttons.length - 1]];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last?.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first?.focus();
    }
  }
  return (
    <>
      <Button
        variant={variant}
        busy={busy}
        className={className}
        aria-label={ariaLabel}
        aria-haspopup="dialog"
        onClick={() => dialog.current?.showModal()}
      >
        {children}
      </Button>
      <dialog
        ref={dialog}
        role="alertdialog"
        aria-modal="true"
        aria-labelledby={`${id}-title`}
        aria-describedby={`${id}-description`}
        onKeyDown={keepFocus}
        className="m-auto w-[min(28rem,calc(100vw-2rem))] rounded-lg border border-slate-200 bg-white p-5 text-left text-slate-900 shadow-xl backdrop:bg-black/50"
      >
        <h2 id={`${id}-title`} className="text-base font-semibold">
          {title}
        </h2>
        <div id={`${id}-description`} className="mt-2 text-sm text-slate-600">
          {description}
        </div>
        <div className="mt-5 flex flex-wrap justify-end gap-2">
          <Button variant="secondary" autoFocus onClick={() => dialog.current?.close()}>
            Cancel
          </Button>
          <Button
            variant={confirmVariant}
            onClick={() => {
              dialog.current?.close();
              onConfirm();
            }}
          >
            {confirmLabel}
          </Button>
        </div>
      </dialog>
    </>
  );
}
