import { z } from 'zod';

export const Email = z.email({ error: 'Enter an email address like you@example.com' }).max(254);
export const Password = z.string().min(10, 'Use at least 10 characters').max(256, 'Use at most 256 characters');
export const SignUpInput = z.strictObject({
  name: z.string().trim().min(1, 'Tell us your name').max(100),
  email: Email,
  password: Password,
});
export const Role = z.enum(['owner', 'admin', 'viewer']);
export const InviteInput = z.strictObject({ email: Email, role: z.enum(['admin', 'viewer']) });
