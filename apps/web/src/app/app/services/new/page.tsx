import { EMPTY_SERVICE, ServiceForm } from '~/components/service-form';

export const metadata = { title: 'New service' };

export default function NewService() {
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-semibold">New service</h1>
      <ServiceForm initial={EMPTY_SERVICE} />
    </div>
  );
}
