/**
 * The word material of warm-up mail (docs/warmup.md §D): ordinary workplace small talk about ordinary things. Plain
 * words only: no links, addresses, domains, dots inside words, figures that look like prices, or tracking-like codes.
 * `{thing}`, `{day}`, `{time}`, `{item}`, `{place}`, `{count}` and `{person}` are filled from the lists below.
 */

export interface Topic {
  /** A noun phrase the sentences refer to as `{thing}`. */
  readonly thing: string;
  readonly subjects: readonly string[];
  /** Sentences only this topic uses. */
  readonly sentences: readonly string[];
}

export const TOPICS: readonly Topic[] = [
  {
    thing: 'the planning session',
    subjects: ['Planning session', 'Quick question about planning', 'Next planning round', 'Planning notes'],
    sentences: [
      'I moved the planning session to {day} so more of the team can join.',
      'We still need someone to take notes during planning.',
    ],
  },
  {
    thing: 'the office move',
    subjects: ['Office move', 'About the move', 'Moving day details', 'New desks'],
    sentences: [
      'The boxes for the office move arrive on {day}.',
      'Facilities asked us to label every monitor before the move.',
    ],
  },
  {
    thing: 'the team lunch',
    subjects: ['Team lunch', 'Lunch on {day}', 'Lunch plans', 'Where should we eat'],
    sentences: [
      'I booked a table for {count} at {place}.',
      'Let me know if anyone has a dietary preference I should pass on.',
    ],
  },
  {
    thing: 'the training course',
    subjects: ['Training course', 'Course materials', 'Training next month', 'Workshop signup'],
    sentences: [
      'The trainer said the second module is the most practical one.',
      'I saved a seat for you in the {time} group.',
    ],
  },
  {
    thing: 'the customer workshop',
    subjects: ['Customer workshop', 'Workshop agenda', 'Prep for the workshop', 'Workshop follow up'],
    sentences: [
      'The customer wants to spend more time on the {item} part.',
      'I will bring printed agendas for everyone.',
    ],
  },
  {
    thing: 'the budget review',
    subjects: ['Budget review', 'Numbers for the review', 'Review prep', 'Budget questions'],
    sentences: ['Finance wants the draft by {day}.', 'Most of the lines look fine, only travel needs another look.'],
  },
  {
    thing: 'the product demo',
    subjects: ['Product demo', 'Demo rehearsal', 'Demo feedback', 'Before the demo'],
    sentences: ['The rehearsal went better than I expected.', 'We should keep the demo under twenty minutes.'],
  },
  {
    thing: 'the quarterly report',
    subjects: ['Quarterly report', 'Report draft', 'Report sections', 'Finishing the report'],
    sentences: [
      'I wrote the summary and left the charts for you.',
      'The section on {item} could use one more example.',
    ],
  },
  {
    thing: 'the hiring interviews',
    subjects: ['Interviews', 'Interview schedule', 'Candidate feedback', 'Interview panel'],
    sentences: ['The second candidate had very thoughtful answers.', 'Could you join the panel on {day} at {time}?'],
  },
  {
    thing: 'the volunteer day',
    subjects: ['Volunteer day', 'Signing up to volunteer', 'Volunteer plans', 'Helping out on {day}'],
    sentences: [
      'The food bank needs {count} more people in the afternoon.',
      'Last year everyone said it was the best day of the season.',
    ],
  },
  {
    thing: 'the conference trip',
    subjects: ['Conference trip', 'Travel for the conference', 'Conference sessions', 'Trip details'],
    sentences: [
      'I found a train that gets us there before the keynote.',
      'The session on {item} looks worth attending.',
    ],
  },
  {
    thing: 'the new onboarding guide',
    subjects: ['Onboarding guide', 'Guide for new starters', 'Onboarding feedback', 'Guide draft'],
    sentences: ['New starters keep asking where to find the {item}.', 'I shortened the first chapter a lot.'],
  },
  {
    thing: 'the supplier meeting',
    subjects: ['Supplier meeting', 'Meeting with the supplier', 'Supplier follow up', 'Supplier terms'],
    sentences: [
      'The supplier offered to deliver earlier if we confirm by {day}.',
      'Their account manager seemed open to a longer contract.',
    ],
  },
  {
    thing: 'the website refresh',
    subjects: ['Website refresh', 'Refresh timeline', 'Homepage ideas', 'Refresh feedback'],
    sentences: [
      'The designers sent three directions for the homepage.',
      'I prefer the calmer colours of the second option.',
    ],
  },
  {
    thing: 'the team offsite',
    subjects: ['Team offsite', 'Offsite ideas', 'Offsite agenda', 'Plans for the offsite'],
    sentences: [
      'Someone suggested a short walk before the sessions start.',
      'We have the room at {place} for the whole day.',
    ],
  },
  {
    thing: 'the inventory count',
    subjects: ['Inventory count', 'Stock check', 'Counting on {day}', 'Inventory results'],
    sentences: ['The storeroom count took longer than planned.', 'We found {count} boxes of {item} nobody had listed.'],
  },
  {
    thing: 'the charity run',
    subjects: ['Charity run', 'Running for charity', 'Run on {day}', 'Training for the run'],
    sentences: ['I have been training {time} most days.', 'The route goes along the river and past {place}.'],
  },
  {
    thing: 'the book club',
    subjects: ['Book club', 'Next book', 'Book club on {day}', 'Reading list'],
    sentences: [
      'I am halfway through and enjoying it more than the last one.',
      'Someone proposed a shorter book for the holidays.',
    ],
  },
];

/** Sentences about any topic; most refer to `{thing}`. */
export const GENERAL_SENTENCES: readonly string[] = [
  'I had a look at {thing} this morning and it is coming together.',
  'Thanks for your help with {thing} so far.',
  'I think {thing} is in good shape for {day}.',
  'There are still a couple of open points on {thing}.',
  'Could we talk about {thing} {time}?',
  'I spoke with {person} and they are happy with {thing}.',
  '{person} mentioned {thing} in the weekly call.',
  'I added a few notes about {thing} to the shared folder.',
  'Nothing urgent, just keeping you posted on {thing}.',
  'I would like your opinion before we settle {thing}.',
  'It would help to have the {item} ready before {day}.',
  'I can take care of the {item} if that helps.',
  'The {item} is the last piece we are waiting for.',
  '{person} offered to look after the {item}.',
  'I will be at {place} {time} if you want to catch up.',
  'Let me know what works for you.',
  'No rush on this, whenever you have a moment is fine.',
  'Happy to adjust if something else comes up.',
  'I am around most of {day} if you want to go through it.',
  'We could also split the work if that is easier.',
  'I wrote down the main questions so we do not forget them.',
  'It went smoothly overall.',
  'The feedback so far has been positive.',
  'I am still waiting to hear back from {person}.',
  'Maybe we can ask {person} to join us {time}.',
  'I think a short call would settle most of it.',
  'Please tell me if I missed anything.',
  'We agreed to keep things simple this time.',
  'Last time the timing was tight, so I started earlier.',
  'The weather should be better by {day}, which helps.',
  'I have set aside some time {time} to finish my part.',
  'Everyone seems to like the idea.',
  'I will send a short summary once it is done.',
  'There is plenty of coffee at {place} if we meet there.',
  'I kept a copy of the {item} just in case.',
  'It is a small change but I think it matters.',
];

export const QUESTIONS: readonly string[] = [
  'Does {day} still work for you?',
  'What do you think?',
  'Would {time} suit you?',
  'Do you have a preference?',
  'Should we invite {person} as well?',
  'Is there anything you need from me?',
  'Did you get a chance to look at the {item}?',
  'Are you free for a quick chat {time}?',
  'Would it help if I took the first draft?',
  'How does that sound?',
];

export const REPLY_OPENERS: readonly string[] = [
  'Thanks for the update on {thing}.',
  'Good to hear from you.',
  'Thanks for getting back to me.',
  'That sounds good to me.',
  'Great, thanks for sorting that out.',
  'Thanks, this is helpful.',
  'Sorry for the slow reply, it has been a busy week.',
  'Glad {thing} is moving along.',
  'Appreciate the quick answer.',
  'Makes sense, thank you.',
];

export const REPLY_SENTENCES: readonly string[] = [
  '{day} works well for me.',
  'I can make {time} work.',
  'I agree we should keep it short.',
  'I will check with {person} and let you know.',
  'I can bring the {item}.',
  'Let us go with your suggestion.',
  'I have nothing to add, it looks complete.',
  'One small thing: the {item} might need another look.',
  'I will block the time in my calendar.',
  'I am happy to help with the next part.',
  'That should leave us enough time before {day}.',
  'I like the plan.',
  'I asked {person} to keep an eye on it as well.',
  'I will be at {place} anyway, so that is easy.',
];

export const DAYS: readonly string[] = [
  'Monday',
  'Tuesday',
  'Wednesday',
  'Thursday',
  'Friday',
  'next week',
  'the end of the week',
  'the start of next week',
  'Monday morning',
  'Thursday afternoon',
];
export const TIMES: readonly string[] = [
  'after lunch',
  'in the morning',
  'later today',
  'tomorrow morning',
  'early in the afternoon',
  'before the weekly call',
  'at the end of the day',
  'around ten',
  'around three',
  'first thing tomorrow',
];
export const ITEMS: readonly string[] = [
  'slides',
  'schedule',
  'checklist',
  'room booking',
  'draft',
  'notes',
  'timeline',
  'budget sheet',
  'seating plan',
  'handout',
  'list of questions',
  'summary',
];
export const PLACES: readonly string[] = [
  'the usual cafe',
  'the second floor',
  'the main meeting room',
  'the corner table',
  'the library',
  'the small kitchen',
  'the garden room',
  'the north office',
];
export const COUNTS: readonly string[] = ['four', 'five', 'six', 'seven', 'eight', 'ten', 'twelve'];
export const PEOPLE: readonly string[] = [
  'Alex',
  'Sam',
  'Jordan',
  'Priya',
  'Marta',
  'Tom',
  'Aiko',
  'Luis',
  'Fatima',
  'Noah',
  'Elena',
  'Grace',
  'the team lead',
  'our manager',
  'the facilities team',
];

export const GREETINGS: readonly string[] = [
  'Hi {name},',
  'Hello {name},',
  'Hey {name},',
  'Good morning {name},',
  'Hi there {name},',
  'Dear {name},',
  'Morning {name},',
  '{name},',
  'Hello again {name},',
  'Hey there {name},',
  'Hi {name}!',
  'Good day {name},',
];
export const SIGN_OFFS: readonly string[] = [
  'Best,',
  'Thanks,',
  'Cheers,',
  'All the best,',
  'Kind regards,',
  'Talk soon,',
  'Warmly,',
  'Regards,',
  'Many thanks,',
  'Speak soon,',
  'Best wishes,',
  'Thanks again,',
];

/** Words of the per-mailbox tagline (its identification phrase, §D): 64 × 64 × 64 × 64 combinations. */
export const TAGLINE_ADJECTIVES: readonly string[] = (
  'amber autumn bold bright brisk calm clear copper crisp dusky early faded gentle golden green grey hidden hollow ' +
  'humble ivory jade kind late lively lone lucky mellow misty mossy narrow noble odd olive pale patient plain ' +
  'proud quiet rapid rosy rough rustic sandy scarlet silent silver slow small snowy soft spare steady still stony ' +
  'sunny swift tall tender tidy velvet warm wild windy young'
).split(' ');
export const TAGLINE_NOUNS: readonly string[] = (
  'acorns anchors apples arches barns cliffs glades beacons bells birches boats bridges brooks cabins candles canyons cedars ' +
  'clouds coves creeks dunes embers fences ferns fields fjords forests gardens gates hills harbours hedges islands ' +
  'kites lakes lanterns leaves lighthouses maples meadows mills moors oaks orchards paths pebbles pines ponds ' +
  'rivers roads sails shores sparrows stones streams tides towers trails valleys villages waves willows winds wrens'
).split(' ');
