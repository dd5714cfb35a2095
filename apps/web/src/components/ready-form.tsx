'use client';

import { useSyncExternalStore, type FormHTMLAttributes } from 'react';

const noSubscription = () => () => {};

/**
 * A form whose fields and buttons are disabled until the page's script has attached its handlers.
 * Served as HTML first, a form looks usable before it is: what was typed then was lost, and Enter or
 * the button reloaded the page through the browser's own submission (a sign-up under a slow load
 * ended back on an empty form). The fieldset takes no box of its own (display: contents).
 */
export function ReadyForm({ children, ...props }: FormHTMLAttributes<HTMLFormElement>) {
  // false in the server's HTML and while hydrating, true from the first client render on.
  const ready = useSyncExternalStore(
    noSubscription,
    () => true,
    () => false,
  );
  return (
    <form {...props}>
      <fieldset disabled={!ready} className="contents">
        {children}
      </fieldset>
    </form>
  );
}
