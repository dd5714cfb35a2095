'use client';

import { createAuthClient } from 'better-auth/react';

/** Sign-up, sign-in, sign-out and password reset from the browser (same origin). */
export const authClient = createAuthClient();
